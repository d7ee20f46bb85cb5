"""The collector emits one CloudWatch EMF line per flushed window (what the alarms watch)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from irc_helpers import FakeClock, eventually, live_settings
from twitch_server import TwitchServer, joined_all

from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import StaticChannelSource
from vieweratlas.sources.twitch.collector import LiveCollector

pytestmark = pytest.mark.server


def test_each_flushed_window_emits_rows_channels_and_reconnects(
    twitch_server: Callable[..., TwitchServer],
    lake: Lake,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "Local")
    server = twitch_server()
    clock.now = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    settings = live_settings(server.url, lake.url, interval="5m")

    async def scenario() -> None:
        collector = LiveCollector(
            settings, lake, StaticChannelSource(["alpha", "beta"]), clock=clock
        )
        task = asyncio.create_task(collector.run())
        await server.await_for(joined_all(server, ["alpha", "beta"]))
        for user in ("ann", "ben", "cat"):
            server.privmsg("alpha", user)
        await eventually(lambda: collector.stats.messages == 3)
        clock.advance(timedelta(minutes=5))
        assert await collector.flush() == 3
        collector.stop()
        await task

    asyncio.run(scenario())
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    emf = [x for x in lines if x.get("Job") == "collector"]
    assert emf, "no EMF line from the collector"
    first = emf[0]
    assert first["RowsCollected"] == 3
    assert first["ChannelsJoined"] == 2
    assert first["Reconnects"] == 0
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ViewerAtlas"
    assert {m["Name"] for m in directive["Metrics"]} >= {"RowsCollected", "ChannelsJoined"}
