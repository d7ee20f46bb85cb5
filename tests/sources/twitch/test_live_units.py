"""Pure parts of the live collector: windows, backoff, join pacing, status rendering."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from vieweratlas.cli.live import StatusView
from vieweratlas.sources.common.windows import SEEN_JOIN, SEEN_NAMES, PresenceWindows, window_start
from vieweratlas.sources.twitch.collector import LiveStatus
from vieweratlas.sources.twitch.connection import JoinLimiter, backoff_delay, parse_irc_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_windows_are_aligned_to_the_epoch() -> None:
    five = timedelta(minutes=5)
    assert window_start(T0 + timedelta(minutes=7, seconds=3), five) == T0 + five
    assert window_start(T0, five) == T0
    assert window_start(T0 - timedelta(microseconds=1), five) == T0 - five
    with pytest.raises(ValueError):
        window_start(datetime(2026, 1, 1), five)  # naive


def test_presence_windows_count_and_take() -> None:
    w = PresenceWindows(timedelta(minutes=1))
    w.message(T0, "a", "bob", "1")
    w.message(T0 + timedelta(seconds=59), "a", "bob", None)
    w.member(T0 + timedelta(seconds=10), "a", "lurk", SEEN_JOIN)
    w.member(T0 + timedelta(seconds=11), "a", "lurk", SEEN_NAMES)
    w.message(T0 + timedelta(minutes=1), "b", "bob", None)
    taken = w.take(before=T0 + timedelta(minutes=1))
    assert [start for start, _ in taken] == [T0]
    presence, seen = w.tables(*taken[0])
    assert presence.to_pylist() == [
        {"ts": T0, "channel": "a", "user": "bob", "user_id": "1", "source": "irc",
         "messages": 2, "platform": "twitch"},
        {"ts": T0, "channel": "a", "user": "lurk", "user_id": None, "source": "irc",
         "messages": 0, "platform": "twitch"},
    ]  # fmt: skip
    assert seen.column("via").to_pylist() == ["message", "join,names"]
    assert w.pending() == [T0 + timedelta(minutes=1)]
    w.restore(*taken[0])
    w.message(T0, "a", "bob", None)
    (_, window), _ = w.take()
    assert window.rows[("a", "bob")].messages == 3


def test_carried_members_are_merged_when_tables_are_built() -> None:
    w = PresenceWindows(timedelta(minutes=1))
    w.message(T0, "a", "bob", None)
    w.carry(T0, {"a": {"bob": SEEN_JOIN, "lurk": SEEN_NAMES}, "b": {}})
    assert w.users_in(T0) == 2  # bob once, lurk
    w.message(T0 + timedelta(seconds=5), "a", "lurk", "9")
    w.member(T0 + timedelta(seconds=6), "a", "newbie", SEEN_JOIN)
    assert w.users_in(T0) == 3
    ((start, window),) = w.take()
    presence, seen = w.tables(start, window)
    got = {(r["user"], r["messages"], r["user_id"]) for r in presence.to_pylist()}
    assert got == {("bob", 1, None), ("lurk", 1, "9"), ("newbie", 0, None)}
    assert dict(zip(seen["user"].to_pylist(), seen["via"].to_pylist(), strict=True)) == {
        "bob": "join,message",
        "lurk": "message,names",
        "newbie": "join",
    }


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 60.0, rng) for n in range(12)]
    for n, d in enumerate(delays):
        full = min(60.0, 2.0**n)
        assert 0.5 * full <= d <= full
    assert max(delays) <= 60.0
    assert len({round(d, 6) for d in delays[8:]}) > 1  # jittered, not lock-step


def test_join_limiter_never_exceeds_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    sent: list[float] = []

    async def fake_sleep(seconds: float) -> None:  # time passes only when the limiter waits
        now[0] += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)

    async def scenario() -> None:
        limiter = JoinLimiter(3, 10.0, monotonic=lambda: now[0])
        for _ in range(10):
            await limiter.acquire()
            sent.append(now[0])

    asyncio.run(scenario())
    for i in range(len(sent) - 3):
        assert sent[i + 3] - sent[i] >= 10.0  # any 4 consecutive joins span > the window


def test_irc_urls() -> None:
    assert parse_irc_url("ircs://irc.chat.twitch.tv:6697").tls
    assert parse_irc_url("irc://127.0.0.1").port == 6667
    assert parse_irc_url("ircs://h").port == 6697


def _status(messages: int) -> LiveStatus:
    return LiveStatus(connections=2, connected=2, channels_wanted=150, channels_joined=149,
                      messages=messages, users_open_window=1234, malformed=1, reconnects=0,
                      windows_flushed=3, rows_written=4000)  # fmt: skip


def test_status_view_logs_without_a_terminal(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vieweratlas.cli.live.LOG_STATUS_EVERY", 0.0)
    caplog.set_level(logging.INFO)
    view = StatusView(None)
    view(_status(10))
    view(_status(20))
    assert "channels_joined=149/150" in caplog.text
    assert "users_open_window=1234" in caplog.text


def test_status_view_table() -> None:
    console = Console(record=True, width=100)
    console.print(StatusView(None).table(_status(5)))
    text = console.export_text()
    for label in ("connections", "channels joined", "messages/s", "users in the open window"):
        assert label in text
    assert "149/150" in text and "1,234" in text


_COMMANDS = ["PRIVMSG", "USERNOTICE", "JOIN", "PART", "353", "QUIT", "NOTICE", "001", "CAP", "PING"]
_twitchy = st.one_of(
    st.text(),
    st.builds(
        lambda tags, cmd, params: f"@{tags} :u!u@u {cmd} {params}",
        st.text(alphabet="abc=;\\\\-/ ", max_size=20),
        st.sampled_from(_COMMANDS),
        st.text(alphabet="#abc :=@+ ", max_size=30),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_twitchy, max_size=8))
def test_hostile_lines_never_break_a_connection(lines: list[str]) -> None:
    from vieweratlas.config import load_settings
    from vieweratlas.lake import Lake
    from vieweratlas.sources.common.channels import StaticChannelSource
    from vieweratlas.sources.twitch.collector import LiveCollector
    from vieweratlas.sources.twitch.connection import Connection, ConnectionLost
    from vieweratlas.sources.twitch.irc import parse_line

    settings = load_settings(overrides={"twitch": {"irc_url": "irc://127.0.0.1:1"}}, environ={})
    collector = LiveCollector(settings, Lake.open("/nonexistent-lake"), StaticChannelSource([]))
    conn = Connection(collector, 0, JoinLimiter(20, 10))
    conn.want({"abc", "a"})
    conn.nick = "justinfan1"
    registered = asyncio.Event()
    for line in lines:
        try:
            conn._handle(line, T0, registered)
        except ConnectionLost:
            # the designed ways out: PING needs a socket to answer, RECONNECT and ERROR end it
            assert parse_line(line).command in ("PING", "RECONNECT", "ERROR")
    assert collector.windows.users_in(T0) >= 0
