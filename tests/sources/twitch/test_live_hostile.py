"""The live collector against a hostile IRC server: over-long lines, endless lines, a byte
trickle, and server text quoting the login token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from irc_helpers import FakeClock, eventually, live_settings
from twitch_server import TwitchServer, joined_all

from vieweratlas.errors import TwitchError
from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import StaticChannelSource
from vieweratlas.sources.twitch.collector import LiveCollector
from vieweratlas.sources.twitch.connection import MAX_LINE, LineBuffer

pytestmark = pytest.mark.server

SMUGGLED = b":smuggled!smuggled@smuggled.tmi.twitch.tv PRIVMSG #one :hi\r\n"


def users(lake: Lake) -> set[str]:
    return {r["user"] for r in lake.read("presence").to_pylist()}


def overlong_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("over-long" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- the line buffer


def test_an_overlong_line_is_dropped_up_to_its_newline() -> None:
    buf = LineBuffer(limit=10)
    assert buf.feed(b"ok\r\n" + b"A" * 11) == [b"ok\r"]
    assert buf.dropped == 1
    assert buf.feed(b"BBBBBBBBBBBBBBBBBBBBB") == []  # still the same line: nothing kept
    assert buf.feed(b"smuggled\r\nnext\n") == [b"next"]  # its tail is not a line
    assert buf.dropped == 1
    assert buf.feed(b"x" * 12 + b"\n" + b"y" * 10 + b"\n") == [b"y" * 10]  # exactly the limit
    assert buf.dropped == 2


@given(
    st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    st.data(),
)
def test_lines_are_the_same_however_the_stream_is_cut(
    lines: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    buf = LineBuffer(limit=8)
    got: list[bytes] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += buf.feed(stream[a:b])
    assert got == [line for line in lines if len(line) <= 8]
    assert buf.dropped == sum(len(line) > 8 for line in lines)
    assert len(buf._buf) <= 8


# ---------------------------------------------------------------------- against a server


def test_the_tail_of_an_overlong_line_is_not_read_as_a_line(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = twitch_server()
    settings = live_settings(server.url, lake.url)

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = asyncio.create_task(collector.run())
        await server.await_for(joined_all(server, ["one"]))
        await asyncio.to_thread(server.send_raw, b"A" * (MAX_LINE + 100))  # no newline yet
        await eventually(lambda: overlong_warnings(caplog) >= 1)
        server.send_raw(SMUGGLED)  # what a naive reader takes for the next line
        server.privmsg("one", "honest")
        await eventually(lambda: collector.stats.messages >= 1)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    assert users(lake) == {"honest"}
    assert collector.stats.messages == 1
    assert collector.stats.overlong == 1


def test_an_endless_line_gives_one_warning_and_the_session_goes_on(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = twitch_server()
    settings = live_settings(server.url, lake.url)
    caplog.set_level(logging.WARNING)

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = asyncio.create_task(collector.run())
        await server.await_for(joined_all(server, ["one"]))
        # Sent from a thread: the collector must keep reading on this loop meanwhile.
        for _ in range(64):  # 4 MiB without a newline
            await asyncio.to_thread(server.send_raw, b"B" * 65536)
        await asyncio.to_thread(server.send_raw, b"\r\n")
        for _ in range(50):  # then 50 over-long lines, each ended
            await asyncio.to_thread(server.send_raw, b"C" * (MAX_LINE + 1) + b"\r\n")
        server.privmsg("one", "after")
        await eventually(lambda: collector.stats.messages >= 1)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    assert collector.stats.overlong == 51
    assert overlong_warnings(caplog) == 3  # the first three; then one per thousand
    assert collector.stats.reconnects == 0
    assert users(lake) == {"after"}


def test_a_byte_trickle_does_not_keep_a_dead_connection_alive(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server()
    settings = live_settings(server.url, lake.url, silence_timeout="0.3s")

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = asyncio.create_task(collector.run())
        await server.await_for(joined_all(server, ["one"]))
        server.trickle(every=0.02)  # a byte every 20 ms, far more often than the timeout
        await server.await_for(lambda: len(server.clients) == 2 and server.clients[1].registered)
        await server.await_for(lambda: "one" in server.clients[1].channels)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    assert collector.stats.reconnects == 1
    assert any(line.startswith("PING") for line in server.lines)


TOKEN = "s3cretTOKENvalue42"


def test_server_text_quoting_the_token_is_logged_scrubbed(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = twitch_server()
    settings = live_settings(
        server.url,
        lake.url,
        twitch={"oauth_token": f"oauth:{TOKEN}", "login": "mybot"},
    )
    caplog.set_level(logging.DEBUG)
    hostile = (
        f":tmi.twitch.tv NOTICE * :your password oauth:{TOKEN} was noted\r\n"
        f"\x00garbage {TOKEN}\r\n"  # malformed: logged as skipped
        f"@{TOKEN.upper()} \r\n"  # malformed, the token in other letter case
        f"ERROR :Closing link (PASS oauth:{TOKEN})\r\n"  # ends the session: logged
    ).encode()

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = asyncio.create_task(collector.run())
        await server.await_for(joined_all(server, ["one"]))
        server.send_raw(hostile)
        await server.await_for(lambda: len(server.clients) == 2 and server.clients[1].registered)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    assert server.clients[0].password == f"oauth:{TOKEN}"
    assert collector.stats.malformed == 2 and collector.stats.reconnects == 1
    assert "server error: Closing link (PASS ***)" in caplog.text
    assert "garbage ***" in caplog.text
    assert TOKEN.lower() not in caplog.text.lower()


def test_a_refusal_quoting_the_token_is_reported_scrubbed(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server(
        refuse_login=True, refuse_text=f"Login authentication failed for oauth:{TOKEN}"
    )
    settings = live_settings(server.url, lake.url, twitch={"oauth_token": TOKEN, "login": "me"})

    async def scenario() -> None:
        await LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock).run()

    with pytest.raises(TwitchError, match="login refused") as info:
        asyncio.run(scenario())
    assert TOKEN not in str(info.value) and "oauth:***" in str(info.value)
