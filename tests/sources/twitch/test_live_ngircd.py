"""The live collector against a real IRC server (Debian's ngircd) on loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from irc_helpers import FakeClock, IrcClient, eventually, live_settings

from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import StaticChannelSource
from vieweratlas.sources.twitch.collector import LiveCollector

pytestmark = pytest.mark.server

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_exactly_the_users_who_were_there(ngircd: int, lake: Lake, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(seconds=10)
    settings = live_settings(f"irc://127.0.0.1:{ngircd}", lake.url, interval="1m")

    async def scenario() -> LiveCollector:
        early = await IrcClient("Early_Bird").connect(ngircd)
        await early.join("alpha")  # there before the collector: seen through NAMES
        collector = LiveCollector(
            settings, lake, StaticChannelSource(["alpha", "beta"]), clock=clock
        )
        task = asyncio.create_task(collector.run())
        await eventually(lambda: collector.status().channels_joined == 2)
        alice = await IrcClient("Alice").connect(ngircd)
        bob = await IrcClient("bob").connect(ngircd)
        carol = await IrcClient("carol").connect(ngircd)
        for client, channel in ((alice, "alpha"), (bob, "alpha"), (bob, "beta"), (carol, "beta")):
            await client.join(channel)
        await alice.say("alpha", "hello")
        await alice.say("alpha", "anyone?")
        await bob.say("beta", "hi beta")
        await eventually(lambda: collector.stats.messages == 3)
        await eventually(lambda: collector.stats.memberships == 5)

        clock.advance(timedelta(minutes=1))  # window 2
        await collector.flush()
        await alice.say("alpha", "still here")
        await eventually(lambda: collector.stats.messages == 4)
        await carol.part("beta")
        await early.close()
        await eventually(lambda: "carol" not in collector.members.get("beta", {}))
        await eventually(lambda: "early_bird" not in collector.members.get("alpha", {}))

        clock.advance(timedelta(minutes=1))  # window 3: only those still joined
        await collector.flush()
        collector.stop()
        await task
        for client in (alice, bob, carol):
            await client.close()
        return collector

    asyncio.run(scenario())
    got: dict[tuple[datetime, str], dict[str, int]] = {}
    for row in lake.read("presence").to_pylist():
        assert row["source"] == "irc" and row["user_id"] is None
        got.setdefault((row["ts"], row["channel"]), {})[row["user"]] = row["messages"]
    w1, w2, w3 = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    assert got == {
        (w1, "alpha"): {"alice": 2, "bob": 0, "early_bird": 0},
        (w1, "beta"): {"bob": 1, "carol": 0},
        (w2, "alpha"): {"alice": 1, "bob": 0, "early_bird": 0},
        (w2, "beta"): {"bob": 0, "carol": 0},
        (w3, "alpha"): {"alice": 0, "bob": 0},
        (w3, "beta"): {"bob": 0},
    }
