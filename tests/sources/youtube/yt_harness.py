"""Run a YouTubeCollector in a background event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vieweratlas.config import Settings, load_settings
from vieweratlas.lake import Lake
from vieweratlas.sources.youtube.collector import Target, YouTubeCollector


def yt_settings(lake: Path, base: str, **collect: Any) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "lake": str(lake),
            "youtube": {"base_url": base, "min_poll": "0.01s", "max_poll": "0.05s"},
            "collect": {"interval": "5m", "refresh": "0.05s", "reconnect_min": "0.01s",
                        "reconnect_max": "0.05s", **collect},
        },
    )  # fmt: skip


@contextmanager
def running(settings: Settings, targets: list[Target], **kwargs: Any) -> Iterator[YouTubeCollector]:
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        collector = YouTubeCollector(settings, Lake.open(settings.lake), targets, **kwargs)
        box["collector"], box["loop"] = collector, asyncio.get_running_loop()
        ready.set()
        await collector.run()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in box:
        raise box["error"]
    collector: YouTubeCollector = box["collector"]
    try:
        yield collector
    finally:
        if thread.is_alive():  # a run whose targets are all done has ended by itself
            with contextlib.suppress(RuntimeError):
                box["loop"].call_soon_threadsafe(collector.stop_event.set)
        thread.join(30)
        if "error" in box:
            raise box["error"]
