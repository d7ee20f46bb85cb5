"""Seconds per named stage, and a hook that hears each stage's name as it starts.

One object is passed through a whole run (engine stages, communities, publishing), so the
summary's ``timings`` and the CLI's progress come from the same place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Seconds per stage, in order; ``progress`` hears each stage's name as it starts."""

    progress: Callable[[str], None] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 4)

    def total(self) -> dict[str, float]:
        return {**self.seconds, "total": round(sum(self.seconds.values()), 4)}
