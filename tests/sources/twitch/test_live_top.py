"""`--top N` end to end: the Helix top streams (loopback Helix) drive the IRC joins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from helix_server import FakeTwitch
from irc_helpers import FakeClock, live_settings
from twitch_server import TwitchServer

from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import channel_source
from vieweratlas.sources.twitch.collector import LiveCollector

pytestmark = pytest.mark.server


def test_top_channels_are_followed_as_they_change(
    twitch_server: Callable[..., TwitchServer], lake: Lake, clock: FakeClock
) -> None:
    helix = FakeTwitch()
    helix.start()
    try:
        helix.add_streams(5)  # chan0000 has the most viewers
        irc = twitch_server()
        settings = live_settings(irc.url, lake.url, refresh="0.2s", twitch=helix.twitch_settings())
        source = channel_source(settings, top=3)

        async def scenario() -> None:
            collector = LiveCollector(settings, lake, source, clock=clock)
            task = asyncio.create_task(collector.run())
            await irc.await_for(lambda: irc.joined() == {"chan0000", "chan0001", "chan0002"})
            # chan0000 goes offline; chan0003 is now in the top 3
            helix.streams = [s for s in helix.streams if s["user_login"] != "chan0000"]
            await irc.await_for(lambda: irc.joined() == {"chan0001", "chan0002", "chan0003"})
            collector.stop()
            await task

        asyncio.run(scenario())
        assert any(line.startswith("PART #chan0000") for line in irc.lines)
        assert sum(r.path.endswith("/streams") for r in helix.requests) >= 2
    finally:
        helix.stop()
