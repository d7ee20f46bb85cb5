"""Boundary validation: logins, durations, channel files (property tests)."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vieweratlas.errors import InputError
from vieweratlas.platforms import TWITCH
from vieweratlas.sources.twitch.helix import floor_time, read_channels_file
from vieweratlas.sources.twitch.irc import normalize_login
from vieweratlas.sources.twitch.models import Stream, check_login, parse_twitch_duration

LOGIN = re.compile(r"^[a-z0-9_]{1,25}$")  # Twitch's rule, as in vieweratlas.platforms


@given(st.text(max_size=80))
def test_check_login_only_returns_safe_logins(text: str) -> None:
    try:
        login = check_login(text)
    except ValueError as exc:
        assert "\n" not in str(exc).replace("\\n", "")
        return
    assert LOGIN.match(login)


@given(st.from_regex(r"[A-Za-z0-9_]{1,25}", fullmatch=True))
def test_real_logins_are_lower_cased(name: str) -> None:
    assert check_login(f"  {name} ") == name.lower()


@given(st.text(max_size=40))
def test_check_login_is_the_platform_rule(text: str) -> None:
    """Helix records, IRC and the importers share one Twitch rule (25 characters, ``#``)."""
    expected = TWITCH.normalize(text)
    if expected is None:
        with pytest.raises(ValueError):
            check_login(text)
    else:
        assert check_login(text) == expected == normalize_login(text)


def test_check_login_refuses_what_twitch_cannot_have() -> None:
    assert check_login("#Shroud") == "shroud"
    for bad in ("x" * 26, "twit\nch", "a b", "bébé", "a\u200bb"):
        with pytest.raises(ValueError):
            check_login(bad)


@given(st.integers(0, 500), st.integers(0, 59), st.integers(0, 59))
def test_durations_round_trip(h: int, m: int, s: int) -> None:
    text = (f"{h}h" if h else "") + (f"{m}m" if m or h else "") + f"{s}s"
    assert parse_twitch_duration(text) == timedelta(hours=h, minutes=m, seconds=s)


@given(st.text(max_size=20))
def test_durations_never_crash(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_twitch_duration(text) >= timedelta(0)


def test_stream_text_fields_are_capped_and_logins_checked() -> None:
    stream = Stream.model_validate(
        {"id": "1", "user_id": "2", "user_login": "Foo", "viewer_count": 3, "title": "x" * 5000}
    )
    assert stream.user_login == "foo" and len(stream.title) == 1000
    with pytest.raises(ValueError, match="not a Twitch login"):
        Stream.model_validate(
            {"id": "1", "user_id": "2", "user_login": "a\r\nJOIN #x", "viewer_count": 3}
        )


@given(st.lists(st.text(max_size=30), max_size=20))
def test_channel_files_yield_only_valid_logins(lines: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "channels.txt"
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            logins = read_channels_file(path)
        except InputError as exc:
            assert str(exc).startswith(str(path))
            return
        assert logins and all(LOGIN.match(x) for x in logins)
        assert len(logins) == len(set(logins))


def test_floor_time() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 11, 20, 12, 7, 31, 999, tzinfo=UTC)
    assert floor_time(t, timedelta(minutes=5)) == datetime(2026, 11, 20, 12, 5, tzinfo=UTC)
    assert floor_time(t, timedelta(minutes=1)) == datetime(2026, 11, 20, 12, 7, tzinfo=UTC)
