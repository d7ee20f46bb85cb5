"""The live collector against the scripted Twitch-flavoured server on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from irc_helpers import FakeClock, eventually, live_settings
from twitch_server import TwitchServer, joined_all

from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import StaticChannelSource
from vieweratlas.sources.twitch.collector import LiveCollector
from vieweratlas.sources.twitch.irc import parse_line

pytestmark = pytest.mark.server

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def by_window(lake: Lake) -> dict[tuple[datetime, str], dict[str, tuple[int, str | None]]]:
    out: dict[tuple[datetime, str], dict[str, tuple[int, str | None]]] = {}
    for row in lake.read("presence").to_pylist():
        assert row["source"] == "irc" and row["platform"] == "twitch"
        key = (row["ts"], row["channel"])
        out.setdefault(key, {})[row["user"]] = (row["messages"], row["user_id"])
    return out


class MutableSource:
    def __init__(self, channels: list[str]) -> None:
        self.channels = channels
        self.fetches = 0

    async def fetch(self) -> list[str]:
        self.fetches += 1
        return list(self.channels)


async def started(collector: LiveCollector) -> asyncio.Task[object]:
    return asyncio.create_task(collector.run())


def test_chat_and_membership_land_in_their_windows(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server(members={"alpha": ["lurker1", "@ModGuy"]})
    clock.now = T0 + timedelta(minutes=3)
    settings = live_settings(server.url, lake.url, interval="5m")

    async def scenario() -> LiveCollector:
        collector = LiveCollector(
            settings, lake, StaticChannelSource(["Alpha", "beta"]), clock=clock
        )
        task = await started(collector)
        await server.await_for(joined_all(server, ["alpha", "beta"]))
        server.privmsg("alpha", "bob", user_id="101")
        server.privmsg("alpha", "Bob", "again", user_id="101")
        server.usernotice("beta", "carol", user_id="202")
        server.user_join("beta", "dave")
        server.send_raw(b"\x00garbage\r\n:only-a-source\r\n@tag=1\r\n\xff\xfe PRIVMSG\r\n")
        server.privmsg("gamma", "stranger")  # a channel we never joined: not sent to us
        await eventually(lambda: collector.stats.messages == 3)
        await eventually(lambda: collector.stats.malformed == 4)
        await eventually(lambda: collector.stats.memberships >= 3)  # dave + 2 NAMES
        clock.advance(timedelta(minutes=5))  # the first window closes
        assert await collector.flush() > 0
        server.privmsg("alpha", "erin")
        await eventually(lambda: collector.stats.messages == 4)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    w1, w2 = T0, T0 + timedelta(minutes=5)
    got = by_window(lake)
    assert got == {
        (w1, "alpha"): {"bob": (2, "101"), "lurker1": (0, None), "modguy": (0, None)},
        (w1, "beta"): {"carol": (1, "202"), "dave": (0, None)},
        # members seen by JOIN/NAMES who never parted are still there in the next window
        (w2, "alpha"): {"erin": (1, None), "lurker1": (0, None), "modguy": (0, None)},
        (w2, "beta"): {"dave": (0, None)},
    }
    seen = {(r["channel"], r["user"]): r["via"] for r in lake.read("irc_seen").to_pylist()}
    assert seen[("alpha", "lurker1")] == "names"
    assert seen[("beta", "dave")] == "join"
    assert seen[("alpha", "bob")] == "message"
    assert collector.stats.windows_flushed == 2
    # the collector's own nick is never a viewer
    assert not any(u.startswith("justinfan") for _, users in got.items() for u in users)


def test_joins_are_paced_and_spread_over_connections(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server(join_limit=3, join_window=0.3)
    channels = [f"chan{i:02d}" for i in range(10)]
    settings = live_settings(
        server.url, lake.url, joins_per_window=3, join_window="0.3s", channels_per_connection=4
    )

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(channels), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, channels))
        await eventually(lambda: collector.status().channels_joined == 10)
        status = collector.status()
        assert (status.connections, status.connected) == (3, 3)
        collector.stop()
        await task

    asyncio.run(scenario())
    assert not server.tripped
    sizes = sorted(len(c.channels) for c in server.clients)
    assert sizes == [2, 4, 4]
    assert all(c.nick.startswith("justinfan") and c.password is None for c in server.clients)
    assert all(set(c.caps) >= {"twitch.tv/tags", "twitch.tv/membership"} for c in server.clients)


def test_a_fast_joiner_would_trip_the_server(
    twitch_server: Callable[..., TwitchServer],
) -> None:
    """The scripted server's limit is real: sending joins unpaced trips it."""
    import socket

    server = twitch_server(join_limit=3, join_window=10)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"NICK justinfan1\r\n" + b"".join(b"JOIN #c%d\r\n" % i for i in range(5)))
        server.wait_for(lambda: server.tripped)


@pytest.mark.parametrize("how", ["reconnect", "drop", "silence"])
def test_reconnects_and_rejoins_everything(
    how: str, twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server()
    channels = ["one", "two", "three"]
    settings = live_settings(server.url, lake.url, silence_timeout="0.3s")

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(channels), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, channels))
        server.privmsg("one", "before")
        await eventually(lambda: collector.stats.messages == 1)
        if how == "reconnect":
            server.reconnect_all()
        elif how == "drop":
            server.drop_all()
        else:
            server.go_silent()
        await server.await_for(lambda: len(server.clients) == 2 and server.clients[1].registered)
        await server.await_for(lambda: set(channels) <= server.clients[1].channels)
        server.privmsg("two", "after")
        await eventually(lambda: collector.stats.messages == 2)
        collector.stop()
        await task
        return collector

    collector = asyncio.run(scenario())
    assert collector.stats.reconnects == 1
    assert sorted(server.clients[1].joins) == sorted(channels)
    if how == "silence":
        assert any(line.startswith("PING") for line in server.lines)
    users = {(r["channel"], r["user"]) for r in lake.read("presence").to_pylist()}
    assert users == {("one", "before"), ("two", "after")}


def test_answers_server_pings(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server()
    settings = live_settings(server.url, lake.url)

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, ["one"]))
        server.ping_all()
        await server.await_for(lambda: any(x.startswith("PONG") for x in server.lines))
        collector.stop()
        await task

    asyncio.run(scenario())
    pongs = [parse_line(x) for x in server.lines if x.startswith("PONG")]
    assert [p.params for p in pongs] == [["tmi.twitch.tv"]]


def test_refresh_parts_the_gone_and_joins_the_new(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    server = twitch_server()
    source = MutableSource(["one", "two"])
    settings = live_settings(server.url, lake.url, refresh="0.1s")

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, source, clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, ["one", "two"]))
        source.channels = ["two", "three", "bad name!"]
        await server.await_for(lambda: server.joined() == {"two", "three"})
        collector.stop()
        await task

    source_validated = source
    asyncio.run(scenario())
    assert source_validated.fetches >= 2
    assert any(line.startswith("PART #one") for line in server.lines)
    assert not any("bad" in line for line in server.lines)


def test_oauth_token_is_sent_but_never_logged(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = twitch_server()
    secret = "s3cretTOKENvalue42"
    settings = live_settings(
        server.url,
        lake.url,
        twitch={"oauth_token": secret, "login": "MyBot"},
        silence_timeout="0.3s",
    )
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, ["one"]))
        server.go_silent()  # a reconnect logs more, and logs in again
        await server.await_for(lambda: len(server.clients) == 2 and server.clients[1].registered)
        collector.stop()
        await task

    asyncio.run(scenario())
    assert server.clients[0].password == f"oauth:{secret}"
    assert server.clients[0].nick == "mybot"
    assert secret not in caplog.text
    assert secret not in repr(settings)


def test_refused_login_stops_the_run(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    from vieweratlas.errors import TwitchError

    server = twitch_server(refuse_login=True)
    settings = live_settings(server.url, lake.url, twitch={"oauth_token": "x", "login": "me"})

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        await collector.run()

    with pytest.raises(TwitchError, match="login refused"):
        asyncio.run(scenario())


def test_ircs_with_tls(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the collector verifies certificates
    server = twitch_server(tls=server_ctx)
    assert server.url.startswith("ircs://")
    settings = live_settings(server.url, lake.url)

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, ["one"]))
        server.privmsg("one", "secure_viewer")
        await eventually(lambda: collector.stats.messages == 1)
        collector.stop()
        await task

    asyncio.run(scenario())
    assert [r["user"] for r in lake.read("presence").to_pylist()] == ["secure_viewer"]


def test_an_untrusted_certificate_is_refused(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    import ssl

    import trustme

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_ctx)
    server = twitch_server(tls=server_ctx)
    settings = live_settings(server.url, lake.url)

    async def scenario() -> LiveCollector:
        collector = LiveCollector(settings, lake, StaticChannelSource(["one"]), clock=clock)
        task = await started(collector)
        await eventually(lambda: collector.stats.reconnects >= 2)
        assert collector.status().connected == 0
        collector.stop()
        await task
        return collector

    asyncio.run(scenario())
    assert not server.joined()


def test_a_failed_write_is_kept_and_retried(tmp_path: Path, clock: FakeClock) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake folder should be")
    lake = Lake.open(str(blocker))
    settings = live_settings("irc://127.0.0.1:1", lake.url)
    collector = LiveCollector(settings, lake, StaticChannelSource([]), clock=clock)

    async def scenario() -> tuple[int, int]:
        collector.seen_message(clock(), "alpha", "bob", "7")
        clock.advance(timedelta(hours=1))
        first = await collector.flush()
        blocker.unlink()
        return first, await collector.flush()

    assert asyncio.run(scenario()) == (0, 1)
    rows = lake.read("presence").to_pylist()
    assert [(r["channel"], r["user"], r["user_id"], r["messages"]) for r in rows] == [
        ("alpha", "bob", "7", 1)
    ]


@pytest.mark.parametrize(
    ("twitch", "message"),
    [
        ({"oauth_token": "abc"}, "needs twitch.login"),
        ({"oauth_token": "abc\r\nJOIN #x", "login": "me"}, "twitch.oauth_token"),
        ({"oauth_token": "", "login": "me"}, "twitch.oauth_token"),
        ({"login": "me\r\nQUIT"}, "twitch.login"),
        ({"irc_url": "https://irc.example"}, "twitch.irc_url"),
    ],
)
def test_bad_login_settings_are_config_errors(
    twitch: dict[str, str], message: str, lake: Lake
) -> None:
    from vieweratlas.errors import ConfigError

    url = twitch.pop("irc_url", "irc://127.0.0.1:1")
    settings = live_settings(url, lake.url, twitch=twitch)
    with pytest.raises(ConfigError, match=message) as err:
        LiveCollector(settings, lake, StaticChannelSource([]))
    assert "abc" not in str(err.value)


def test_logged_in_joins_are_paced_per_account(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    """With a token, Twitch counts joins per account: one budget across all connections."""
    server = twitch_server(join_limit=3, join_window=0.3)
    channels = [f"chan{i:02d}" for i in range(9)]
    settings = live_settings(
        server.url,
        lake.url,
        joins_per_window=3,
        join_window="0.3s",
        channels_per_connection=3,
        twitch={"oauth_token": "tok", "login": "mybot"},
    )

    async def scenario() -> None:
        collector = LiveCollector(settings, lake, StaticChannelSource(channels), clock=clock)
        task = await started(collector)
        await server.await_for(joined_all(server, channels))
        collector.stop()
        await task

    asyncio.run(scenario())
    assert not server.tripped
    assert len(server.clients) == 3 and all(c.nick == "mybot" for c in server.clients)
