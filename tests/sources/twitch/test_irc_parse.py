"""parse_line (a library contract), IRCv3 tag escaping and safe line building."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vieweratlas.sources.twitch.irc import (
    LOGIN_RE,
    UnsafeLineError,
    build_line,
    escape_tag_value,
    normalize_login,
    parse_line,
    unescape_tag_value,
)


def test_twitch_privmsg_with_tags() -> None:
    line = (
        "@badge-info=;badges=broadcaster/1;color=#0000FF;display-name=Ronni;"
        "emotes=;id=db25007f;mod=0;room-id=1337;subscriber=0;"
        "tmi-sent-ts=1507246572675;user-id=1337;system-msg=a\\sb\\:c\\\\d "
        ":ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #dallas :Kappa Keepo Kappa\r\n"
    )
    msg = parse_line(line)
    assert msg.command == "PRIVMSG"
    assert msg.source == "ronni!ronni@ronni.tmi.twitch.tv"
    assert msg.nick == "ronni"
    assert msg.params == ["#dallas", "Kappa Keepo Kappa"]
    assert msg.tags["user-id"] == "1337"
    assert msg.tags["badge-info"] == ""
    assert msg.tags["system-msg"] == "a b;c\\d"


@pytest.mark.parametrize(
    ("line", "command", "params", "source"),
    [
        ("PING :tmi.twitch.tv", "PING", ["tmi.twitch.tv"], None),
        (":tmi.twitch.tv RECONNECT", "RECONNECT", [], "tmi.twitch.tv"),
        (":a!a@a JOIN #chan", "JOIN", ["#chan"], "a!a@a"),
        (":srv 353 me = #chan :a b  c", "353", ["me", "=", "#chan", "a b  c"], "srv"),
        (":srv 001 me :", "001", ["me", ""], "srv"),
        ("privmsg #a   b   :x :y", "PRIVMSG", ["#a", "b", "x :y"], None),
        ("@a CAP * ACK", "CAP", ["*", "ACK"], None),
    ],
)
def test_shapes(line: str, command: str, params: list[str], source: str | None) -> None:
    msg = parse_line(line)
    assert (msg.command, msg.params, msg.source) == (command, params, source)


def test_tag_without_value_and_odd_escapes() -> None:
    msg = parse_line("@a;b=;c=x\\qy\\ PING")
    assert msg.tags == {"a": "", "b": "", "c": "xqy"}


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "@a=b",
        ":src",
        ":src  ",
        "@a=b :src",
        "12 x",
        "PRI-VMSG x",
        "a\nb",
        "PING \0x",
        ": PING",
        "@=x PING",
        "PING\rPONG",
    ],
)
def test_not_irc(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


@settings(max_examples=500)
@given(st.text())
def test_parse_line_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_line(text)


@settings(max_examples=300)
@given(st.binary())
def test_parse_line_on_decoded_bytes(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_line(data.decode("utf-8", "replace"))


@given(st.text())
def test_tag_values_round_trip(value: str) -> None:
    escaped = escape_tag_value(value)
    assert not any(ch in escaped for ch in " ;\r\n")
    assert unescape_tag_value(escaped) == value


_keys = st.from_regex(r"\A\+?([a-z0-9.\-]+/)?[a-zA-Z0-9\-]+\Z")
_safe_text = st.text().filter(lambda s: not any(c in s for c in "\r\n\0"))


@settings(max_examples=300)
@given(st.dictionaries(_keys, _safe_text, max_size=6), _safe_text)
def test_tags_round_trip_through_a_line(tags: dict[str, str], text: str) -> None:
    line = build_line("PRIVMSG", "#chan", text, tags=tags, source="u!u@u.tmi.twitch.tv")
    msg = parse_line(line)
    assert msg.tags == tags
    assert msg.params == ["#chan", text]
    assert msg.command == "PRIVMSG"


@given(
    st.text(),
    st.sampled_from(["\r", "\n", "\0"]),
    st.text(),
    st.sampled_from(["param", "trailing", "tag", "source"]),
)
def test_building_refuses_cr_lf_nul(before: str, bad: str, after: str, where: str) -> None:
    dirty = before + bad + after
    with pytest.raises(UnsafeLineError):
        if where == "param":
            build_line("JOIN", dirty, "x")
        elif where == "trailing":
            build_line("PRIVMSG", "#a", dirty)
        elif where == "tag":
            build_line("PRIVMSG", "#a", "x", tags={"k": dirty})
        else:
            build_line("PRIVMSG", "#a", "x", source=dirty)


def test_building_refuses_malformed_params() -> None:
    with pytest.raises(UnsafeLineError):
        build_line("JOIN", "#a b", "x")  # a middle parameter with a space
    with pytest.raises(UnsafeLineError):
        build_line("JOIN", "", "x")
    with pytest.raises(UnsafeLineError):
        build_line("JOIN\r\nQUIT")
    assert build_line("PRIVMSG", "#a", ":)") == "PRIVMSG #a ::)\r\n"
    assert build_line("NICK", "justinfan1") == "NICK justinfan1\r\n"


def test_unsafe_error_never_echoes_the_text() -> None:
    with pytest.raises(UnsafeLineError) as err:
        build_line("PASS", "oauth:secret\r\nPRIVMSG #x :pwned")
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "login"),
    [
        ("Shroud", "shroud"),
        ("#xqc", "xqc"),
        (" a_b9 ", "a_b9"),
        ("a b", None),
        ("a\r\nJOIN #x", None),
        ("x" * 26, None),
        ("", None),
        ("é", None),
        ("a-b", None),
    ],
)
def test_normalize_login(name: str, login: str | None) -> None:
    assert normalize_login(name) == login


@given(st.text())
def test_normalize_login_only_ever_yields_a_login(name: str) -> None:
    login = normalize_login(name)
    assert login is None or LOGIN_RE.fullmatch(login)
    if login is not None:
        line = build_line("JOIN", "#" + login)
        assert line == f"JOIN #{login}\r\n"


_middle = st.text(min_size=1).filter(
    lambda s: not any(c in s for c in " \r\n\0") and not s.startswith(":")
)


@settings(max_examples=300)
@given(st.lists(_middle, max_size=5), _safe_text)
def test_any_built_line_is_one_line_that_parses_back(middle: list[str], last: str) -> None:
    line = build_line("PRIVMSG", *middle, last)
    assert line.endswith("\r\n")
    assert not any(c in line[:-2] for c in "\r\n\0")
    assert parse_line(line).params == [*middle, last]
