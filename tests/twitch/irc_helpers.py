"""Helpers for the live-collector tests: a fake clock, settings, waiting with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from vieweratlas.config import Settings, load_settings


class FakeClock:
    """A settable wall clock for the collector's windows."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def live_settings(url: str, lake: str, **collect: Any) -> Settings:
    """Settings for a test collector: fast reconnects, short silence timeout."""
    twitch = collect.pop("twitch", {})
    base: dict[str, Any] = {
        "interval": "1h",
        "silence_timeout": "5s",
        "reconnect_min": "0.05s",
        "reconnect_max": "0.2s",
        "join_window": "0.3s",
        "joins_per_window": 20,
    }
    base.update(collect)
    return load_settings(
        overrides={"lake": lake, "twitch": {"irc_url": url, **twitch}, "collect": base},
        environ={},
    )


async def eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait (yielding to the loop) until ``predicate()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the collector")
        await asyncio.sleep(0.01)
