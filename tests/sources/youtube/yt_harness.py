"""Run a YouTubeCollector in a background event loop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testkit import in_background
from vieweratlas.config import Settings, load_settings
from vieweratlas.lake import Lake
from vieweratlas.sources.youtube.collector import Target, YouTubeCollector


def yt_settings(lake: Path, base: str, youtube: dict[str, Any] | None = None,
                **collect: Any) -> Settings:  # fmt: skip
    return load_settings(
        environ={},
        overrides={
            "lake": str(lake),
            "youtube": {"base_url": base, "min_poll": "0.01s", "max_poll": "0.05s",
                        **(youtube or {})},
            "collect": {"interval": "5m", "refresh": "0.05s", "reconnect_min": "0.01s",
                        "reconnect_max": "0.05s", **collect},
        },
    )  # fmt: skip


@contextmanager
def running(settings: Settings, targets: list[Target], **kwargs: Any) -> Iterator[YouTubeCollector]:
    async def make() -> YouTubeCollector:
        return YouTubeCollector(settings, Lake.open(settings.lake), targets, **kwargs)

    with in_background(make, run=lambda c: c.run(), stop=lambda c: c.stop_event.set()) as collector:
        yield collector
