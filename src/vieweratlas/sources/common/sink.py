"""Presence windows → the lake, for the chat collectors that only see messages (Kick, YouTube).

:class:`WindowWriter` owns a :class:`~vieweratlas.sources.common.windows.PresenceWindows`
and writes each window once it has closed (``flush()``), or every window including the open
one (``flush(everything=True)``, on SIGTERM or at the end of a run); every collector (Twitch
IRC, Kick, YouTube) writes through it. Writes run in a worker thread; a failed write puts
the window back for the next flush. Hooks: ``at_boundary(now)`` runs once per new window
before closed windows are taken (Twitch carries its channel members into the new window);
``after_write(written)`` runs in the worker thread right after a window's presence is in
the lake (Twitch writes its ``irc_seen`` side table, the Kick receiver records the window's
delivery ids); ``on_flushed(rows)`` runs on the event loop after each window (Twitch's
metrics). :func:`run_windows` is the loop the chat collectors share: wake at each window
boundary, flush, stop on request or after a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake
from vieweratlas.sources.common.windows import PresenceWindows, Window, window_start

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")
T_co = TypeVar("T_co", covariant=True)
S_co = TypeVar("S_co", covariant=True)


@dataclass
class ChatStats:
    """Running counters of a chat collector (mutated as messages arrive)."""

    messages: int = 0
    rejected: int = 0  # deliveries refused (bad signature, stale, replayed)
    malformed: int = 0  # frames or pages of a shape we do not know
    reconnects: int = 0
    windows_flushed: int = 0
    rows_written: int = 0


@dataclass(frozen=True)
class ChatStatus:
    """A snapshot for status displays."""

    what: str  # e.g. "kick webhook", "youtube"
    channels: int
    connected: int
    messages: int
    users_open_window: int
    rejected: int
    malformed: int
    reconnects: int
    windows_flushed: int
    rows_written: int


class FlushCounters(Protocol):
    """The counters a :class:`WindowWriter` keeps (``ChatStats``, Twitch's ``LiveStats``)."""

    windows_flushed: int
    rows_written: int


@dataclass(frozen=True)
class Written:
    """A window just written: its start, its tables and the presence rows that were new."""

    start: datetime
    presence: pa.Table
    seen: pa.Table  # how each user was seen (Twitch's ``irc_seen`` side table)
    rows: int


class WindowWriter:
    """Writes closed windows of ``windows`` to ``lake`` (see the module docstring)."""

    def __init__(
        self,
        lake: Lake,
        windows: PresenceWindows,
        stats: FlushCounters,
        *,
        now: Callable[[], datetime],
        at_boundary: Callable[[datetime], None] | None = None,
        after_write: Callable[[Written], None] | None = None,
        on_flushed: Callable[[int], None] | None = None,
    ) -> None:
        self.lake = lake
        self.windows = windows
        self.stats = stats
        self.now = now
        self.at_boundary = at_boundary
        self.after_write = after_write
        self.on_flushed = on_flushed
        self._boundary: datetime | None = None
        self._lock = asyncio.Lock()

    def open_users(self) -> int:
        return self.windows.users_in(window_start(self.now(), self.windows.interval))

    async def flush(self, *, everything: bool = False) -> int:
        """Write closed windows (all with ``everything``); returns new presence rows."""
        async with self._lock:
            now = self.now()
            before = None if everything else window_start(now, self.windows.interval)
            if before is not None and before != self._boundary:
                if self.at_boundary is not None:
                    self.at_boundary(now)
                self._boundary = before
            written = 0
            for start, window in self.windows.take(before):
                if not len(window):
                    continue
                try:
                    done = await asyncio.to_thread(self._write, start, window)
                except (LakeError, OSError) as exc:
                    log.error("window %s: lake write failed, will retry: %s", start, exc)
                    self.windows.restore(start, window)
                    if everything:
                        raise
                    continue
                written += done.rows
                self.stats.windows_flushed += 1
                self.stats.rows_written += done.rows
                log.info(
                    "%s window %s flushed: %d users in %d channels, %d new rows",
                    self.windows.platform,
                    start.isoformat(),
                    done.presence.num_rows,
                    len(pc.unique(done.presence.column("channel"))),
                    done.rows,
                )
                if self.on_flushed is not None:
                    self.on_flushed(done.rows)
            return written

    def _write(self, start: datetime, window: Window) -> Written:
        presence, seen = self.windows.tables(start, window)
        result = self.lake.write("presence", presence)
        done = Written(start, presence, seen, result.rows_written)
        if self.after_write is not None:
            self.after_write(done)
        return done


async def run_windows(
    writer: WindowWriter,
    stop: asyncio.Event,
    *,
    duration: timedelta | None = None,
    tick: Callable[[], object] | None = None,
) -> None:
    """Flush at every window boundary until ``stop`` is set or ``duration`` has passed.

    The open window is *not* flushed here: the caller does that after stopping its
    transports (``writer.flush(everything=True)``), so nothing arrives after the last write.
    """
    deadline = None if duration is None else time.monotonic() + duration.total_seconds()
    interval = writer.windows.interval
    while not stop.is_set():
        now = writer.now()
        wait = (window_start(now, interval) + interval - now).total_seconds()
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0) + 0.001)
        if deadline is not None and time.monotonic() >= deadline:
            break
        if tick is not None:
            tick()
        await writer.flush()


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop`` (the caller then flushes the open window); returns a
    function that removes the handlers again."""
    import signal

    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(sig: int) -> None:
        log.info("signal %d: flushing the open window and stopping", sig)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


class Collector(Protocol[T_co, S_co]):
    """What :func:`run_collector` drives: every platform's collector."""

    @property
    def stop_event(self) -> asyncio.Event: ...

    def status(self) -> S_co: ...

    def run(self, duration: timedelta | None = None) -> Awaitable[T_co]: ...


async def run_collector(
    collector: Collector[T, S],
    duration: timedelta | None = None,
    *,
    on_status: Callable[[S], None] | None = None,
    every: float = 1.0,
    handle_signals: bool = True,
) -> T:
    """Run a collector to its end (or ``duration``): SIGTERM/SIGINT set its ``stop_event``
    (when ``handle_signals``), and ``on_status`` hears ``status()`` every ``every`` seconds.
    The one run loop of every platform's ``collect`` command."""
    stop, status = collector.stop_event, collector.status
    remove = install_stop_signals(stop) if handle_signals else None

    async def report() -> None:
        assert on_status is not None
        while True:
            await asyncio.sleep(every)
            on_status(status())

    reporter = asyncio.create_task(report()) if on_status is not None else None
    try:
        return await collector.run(duration)
    finally:
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        if remove is not None:
            remove()
