"""Run a :class:`KickCollector` in a background event loop, with a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from testkit import in_background
from vieweratlas.config import Settings, load_settings
from vieweratlas.lake import Lake
from vieweratlas.sources.kick.collector import KickCollector


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def kick_settings(lake: Path, api: str, **kick: Any) -> Settings:
    collect = kick.pop("collect", {})
    return load_settings(
        environ={},
        overrides={
            "lake": str(lake),
            "kick": {"api_url": api, "auth_url": api + "/oauth/token", "web_url": api,
                     "listen_port": 0, **kick},
            "collect": {"interval": "5m", "refresh": "1h", **collect},
        },
    )  # fmt: skip


@contextmanager
def running(
    settings: Settings, clock: Callable[[], datetime], **kwargs: Any
) -> Iterator[KickCollector]:
    """The collector running in a thread; leaving the block stops it (flushing everything)."""

    async def make() -> KickCollector:
        return KickCollector(settings, Lake.open(settings.lake), now=clock, **kwargs)

    async def ready(collector: KickCollector) -> None:
        while collector.url is None and collector.pusher is None:
            await asyncio.sleep(0.01)

    with in_background(
        make, ready=ready, run=lambda c: c.run(), stop=lambda c: c.stop_event.set()
    ) as collector:
        yield collector
