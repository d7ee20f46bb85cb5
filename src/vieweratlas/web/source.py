"""Where the dashboard's data comes from: the lake, its runs and tracking outputs, cached.

A run's files never change once written, so a run's :class:`RunData` is built once and kept
in a small LRU keyed by run id. What can change (the list of runs, the newest tracking
output, the lake's presence summary) is re-read after ``ttl`` seconds; each carries a
version that moves only when a re-read finds something new (the app's page cache keys on
them).

Reading blocks (Parquet, DuckDB, S3), so the app calls these methods off the event loop —
except inside :meth:`DataSource.inline`: there nothing is read, a value that is in memory
and fresh is returned and anything else raises :class:`Stale`, so the app can answer a
request from memory on the event loop and hand only the ones that need a read to a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import pyarrow as pa

from vieweratlas.errors import LakeError, VieweratlasError
from vieweratlas.lake import Lake
from vieweratlas.runs import RUN_ID_RE, RunInfo, list_runs, open_run
from vieweratlas.web.rundata import RunData
from vieweratlas.web.tracking import Tracking, find_tracking

log = logging.getLogger(__name__)

__all__ = ["DataSource", "NotFound", "Stale", "Unreadable"]

T = TypeVar("T")
_INLINE: ContextVar[bool] = ContextVar("vieweratlas_web_inline", default=False)


class NotFound(VieweratlasError):
    """The thing a request names (run, channel, community, file) does not exist."""


class Unreadable(VieweratlasError):
    """A run exists but its files cannot be read as tables (damaged or foreign files)."""


class Stale(Exception):  # a signal between source and app, never shown to a user
    """Inside :meth:`DataSource.inline`: the answer needs a read; ask again off the loop."""


class _Timed:
    """One value recomputed at most every ``ttl`` seconds (thread-safe).

    ``version`` moves when a recomputation gives a different value (``same`` decides), so
    what was derived from the old value stays valid as long as the version does.
    """

    def __init__(
        self,
        ttl: float,
        compute: Callable[[Any], Any],
        clock: Callable[[], float],
        same: Callable[[Any, Any], bool] = lambda a, b: bool(a == b),
    ) -> None:
        self._ttl, self._compute, self._clock, self._same = ttl, compute, clock, same
        self._lock = threading.Lock()
        # (computed at, value, version): replaced as one tuple, so readers need no lock
        self._state: tuple[float, Any, int] = (-float("inf"), None, 0)

    @property
    def version(self) -> int:
        return self._state[2]

    def get(self) -> Any:
        if _INLINE.get():
            at, value, _ = self._state
            if self._clock() - at >= self._ttl:
                raise Stale
            return value
        with self._lock:
            at, value, version = self._state
            if self._clock() - at >= self._ttl:
                new = self._compute(value)
                if version == 0 or not self._same(new, value):
                    value, version = new, version + 1
                self._state = (self._clock(), value, version)
            return value


class DataSource:
    """The lake as the dashboard reads it."""

    def __init__(
        self,
        lake: Lake,
        *,
        cache_runs: int = 4,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        tracking: Callable[[Lake, Tracking | None], Tracking | None] = find_tracking,
    ) -> None:
        self.lake = lake
        self._cache_runs = max(cache_runs, 1)
        self._runs: OrderedDict[str, RunData] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._list = _Timed(ttl, lambda _: list_runs(lake), clock)
        self._tracking = _Timed(
            ttl, lambda old: tracking(lake, old), clock, same=lambda a, b: a is b
        )
        self._lake_summary = _Timed(max(ttl, 300.0), lambda _: self._summarise_lake(), clock)

    @contextmanager
    def inline(self) -> Iterator[None]:
        """Within this block nothing is read: in-memory, fresh answers or :class:`Stale`."""
        token = _INLINE.set(True)
        try:
            yield
        finally:
            _INLINE.reset(token)

    def off_loop(self) -> None:
        """Called before a big computation: inside :meth:`inline`, hand it to a thread."""
        if _INLINE.get():
            raise Stale

    def versions(self) -> tuple[int, int, int]:
        """Versions of the run list, the tracking output and the lake summary."""
        return (self._list.version, self._tracking.version, self._lake_summary.version)

    # ------------------------------------------------------------------ runs

    def runs(self) -> list[RunInfo]:
        runs: list[RunInfo] = self._list.get()
        return runs

    def run(self, run_id: str | None) -> RunData:
        """The run ``run_id`` (None: the newest), loaded once. ``NotFound`` if absent."""
        if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
            raise NotFound(f"no run {run_id[:80]!r}")
        runs = self.runs()
        if run_id is None:
            if not runs:
                raise NotFound(f"lake {self.lake.url}: no runs yet (run `vieweratlas analyze`)")
            run_id = runs[0].run_id
        elif not any(r.run_id == run_id for r in runs):
            raise NotFound(f"no run {run_id!r}")
        with self._lock:
            if run_id in self._runs:
                self._runs.move_to_end(run_id)
                return self._runs[run_id]
            if _INLINE.get():
                raise Stale
            gate = self._loading.setdefault(run_id, threading.Lock())
        with gate:  # one load per run, however many requests ask at once
            with self._lock:
                if run_id in self._runs:
                    return self._runs[run_id]
            try:
                data = RunData(open_run(self.lake, run_id))
            except LakeError as exc:
                raise NotFound(str(exc)) from exc
            except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
                log.warning("run %s unreadable: %s", run_id, exc)
                first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise Unreadable(f"run {run_id} cannot be read: {first}") from exc
            with self._lock:
                self._runs[run_id] = data
                while len(self._runs) > self._cache_runs:
                    self._runs.popitem(last=False)
                self._loading.pop(run_id, None)
            return data

    # ------------------------------------------------------------------ tracking, lake

    def tracking(self) -> Tracking | None:
        tracking: Tracking | None = self._tracking.get()
        return tracking

    def lake_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self._lake_summary.get()
        return summary

    def _summarise_lake(self) -> dict[str, Any]:
        """Per platform: channels, viewers, snapshots and the last collection time."""
        query = """
            SELECT platform, count(DISTINCT channel) AS channels, count(DISTINCT "user") AS viewers,
                   count(DISTINCT ts) AS snapshots, min(ts) AS first, max(ts) AS last,
                   count(*) AS rows
            FROM presence GROUP BY platform ORDER BY platform
        """
        try:
            table = self.lake.sql(query)
        except (VieweratlasError, OSError) as exc:
            log.warning("lake %s: presence summary unavailable: %s", self.lake.url, exc)
            return {"platforms": [], "error": "presence summary unavailable"}
        rows = table.to_pylist()
        for row in rows:
            for key in ("first", "last"):
                row[key] = row[key].isoformat() if row[key] is not None else None
        last = max((r["last"] for r in rows if r["last"]), default=None)
        return {"platforms": rows, "last_collection": last}
