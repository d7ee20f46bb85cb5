"""Run a :class:`KickCollector` in a background event loop, with a clock the test moves."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

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


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@contextmanager
def running(
    settings: Settings, clock: Callable[[], datetime], **kwargs: Any
) -> Iterator[KickCollector]:
    """The collector running in a thread; leaving the block stops it (flushing everything)."""
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        collector = KickCollector(settings, Lake.open(settings.lake), now=clock, **kwargs)
        box["collector"] = collector
        box["loop"] = asyncio.get_running_loop()
        task = asyncio.create_task(collector.run())
        while collector.url is None and collector.pusher is None and not task.done():
            await asyncio.sleep(0.01)
        ready.set()
        await task

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in box:
        raise box["error"]
    collector: KickCollector = box["collector"]
    try:
        yield collector
    finally:
        box["loop"].call_soon_threadsafe(collector.stop_event.set)
        thread.join(30)
        if "error" in box:
            raise box["error"]
