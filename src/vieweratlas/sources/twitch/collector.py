"""The live collector: Twitch chat over IRC → presence windows → the lake.

Channels are spread over connections of at most ``collect.channels_per_connection``
channels each; joins are paced under ``collect.joins_per_window`` per
``collect.join_window``. Every ``collect.interval`` the windows that have closed are
written to the lake (``presence`` with ``source=irc``, plus the ``irc_seen`` side table),
off the event loop. :meth:`LiveCollector.stop` (SIGTERM/SIGINT in the CLI) ends the run
after flushing the open window too. A killed collector loses only the open window: closed
windows are already in the lake, written atomically, and windows are aligned to the clock
so a restart's rows de-duplicate against what is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vieweratlas import metrics
from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import ChannelSource, validate_channels
from vieweratlas.sources.common.sink import WindowWriter, Written, run_collector
from vieweratlas.sources.common.windows import PresenceWindows, window_start
from vieweratlas.sources.twitch.connection import Connection, JoinLimiter, parse_irc_url
from vieweratlas.sources.twitch.irc import normalize_login

log = logging.getLogger(__name__)

# Twitch stops sending membership above ~1,000 chatters; track at most this many per channel.
MAX_MEMBERS = 1000

__all__ = ["LiveCollector", "LiveStats", "LiveStatus"]


@dataclass
class LiveStats:
    """Running counters (mutated by the connections)."""

    messages: int = 0
    memberships: int = 0
    malformed: int = 0
    overlong: int = 0  # lines over the IRC line limit, dropped
    reconnects: int = 0
    windows_flushed: int = 0
    rows_written: int = 0


@dataclass(frozen=True)
class LiveStatus:
    """A snapshot for status displays."""

    connections: int
    connected: int
    channels_wanted: int
    channels_joined: int
    messages: int
    users_open_window: int
    malformed: int
    reconnects: int
    windows_flushed: int
    rows_written: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveCollector:
    """Collects presence from IRC into ``lake``; see the module docstring.

    ``clock`` gives the (aware) time used to assign observations to windows and to decide
    when a window closes; ``rng`` drives nicks and backoff jitter. Both are parameters so
    tests can drive windows and reconnects deterministically.
    """

    def __init__(
        self,
        settings: Settings,
        lake: Lake,
        source: ChannelSource,
        *,
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        cs = settings.collect
        tw = settings.twitch
        self.settings = settings
        self.lake = lake
        self.source = source
        self.endpoint = parse_irc_url(tw.irc_url)
        self.token = tw.oauth_token
        self.login = normalize_login(tw.login) if tw.login else None
        if tw.login and self.login is None:
            raise ConfigError("twitch.login: not a Twitch login (letters, digits, _; 1-25)")
        if self.token is not None:
            if self.login is None:
                raise ConfigError("twitch.oauth_token needs twitch.login (the account's login)")
            secret = self.token.get_secret_value()
            if not secret or any(ch.isspace() or ch == "\0" for ch in secret):
                # never echo the value: it is a secret
                raise ConfigError("twitch.oauth_token: empty or contains spaces/control characters")
        # Blanked out of any server text we log: the token with and without "oauth:".
        self.secrets: tuple[str, ...] = ()
        if self.token is not None:
            raw = self.token.get_secret_value()
            self.secrets = tuple(sorted({raw, raw.removeprefix("oauth:")}, key=len, reverse=True))
        self.interval = cs.interval
        if self.interval.total_seconds() <= 0:
            raise ConfigError("collect.interval: must be longer than 0s")
        self.silence_timeout = max(cs.silence_timeout.total_seconds(), 0.05)
        self.connect_timeout = max(1.0, min(15.0, self.silence_timeout * 2))
        self.reconnect_min = cs.reconnect_min.total_seconds()
        self.reconnect_max = max(cs.reconnect_max.total_seconds(), self.reconnect_min)
        self.per_connection = cs.channels_per_connection
        self.refresh = cs.refresh.total_seconds()
        self.rng = rng or random.Random()
        self.now = clock
        self.windows = PresenceWindows(self.interval)
        self.stats = LiveStats()
        self.members: dict[str, dict[str, int]] = {}
        self.connections: list[Connection] = []
        self._account_limiter = JoinLimiter(cs.joins_per_window, cs.join_window.total_seconds())
        self._tasks: dict[Connection, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self.writer = WindowWriter(
            lake,
            self.windows,
            self.stats,
            now=clock,
            at_boundary=self._carry_members,
            after_write=self._write_seen,
            on_flushed=self._emit_metrics,
        )
        self._reconnects_reported = 0
        self._failed: BaseException | None = None
        self._running = False

    # ------------------------------------------------------------------ observations

    def seen_message(self, now: datetime, channel: str, user: str, user_id: str | None) -> None:
        self.stats.messages += 1
        self.windows.message(now, channel, user, user_id)

    def seen_member(self, now: datetime, channel: str, user: str, how: int) -> None:
        """A JOIN or NAMES entry: present now, and in later windows until they PART."""
        self.stats.memberships += 1
        self.windows.member(now, channel, user, how)
        members = self.members.setdefault(channel, {})
        if user in members or len(members) < MAX_MEMBERS:
            members[user] = members.get(user, 0) | how

    def member_left(self, channel: str, user: str) -> None:
        self.members.get(channel, {}).pop(user, None)

    def forget_members(self, channel: str) -> None:
        """We left the channel (or lost the connection): its member list is stale."""
        self.members.pop(channel, None)

    def _carry_members(self, now: datetime) -> None:
        # Membership is event-based: someone who joined in an earlier window and has not
        # parted is still there, so they count in the new window too.
        self.windows.carry(now, self.members)

    # ------------------------------------------------------------------ channels

    def _limiter(self) -> JoinLimiter:
        if self.token is not None:
            return self._account_limiter  # Twitch counts joins per account
        cs = self.settings.collect
        return JoinLimiter(cs.joins_per_window, cs.join_window.total_seconds())

    def set_channels(self, channels: list[str]) -> None:
        """Make the connections follow ``channels``: part the gone, join the new.

        Names are validated here again (whatever the source), so nothing but a Twitch login
        ever reaches a JOIN line.
        """
        channels = validate_channels(channels, "channel list")
        wanted = set(channels)
        for conn in self.connections:
            if conn.wanted - wanted:
                conn.want(conn.wanted & wanted)
        have: set[str] = set().union(*(c.wanted for c in self.connections))
        missing = [ch for ch in channels if ch not in have]
        for conn in self.connections:
            room = self.per_connection - len(conn.wanted)
            if room > 0 and missing:
                conn.want(conn.wanted | set(missing[:room]))
                missing = missing[room:]
        while missing:
            conn = Connection(self, len(self.connections), self._limiter())
            conn.want(set(missing[: self.per_connection]))
            missing = missing[self.per_connection :]
            self.connections.append(conn)
            if not self._stop.is_set() and self._running:
                self._start(conn)

    def _start(self, conn: Connection) -> None:
        task = asyncio.create_task(conn.run(self._stop), name=f"irc-{conn.index}")
        task.add_done_callback(self._connection_done)
        self._tasks[conn] = task

    def _connection_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # A fatal error (e.g. login refused): stop the whole run and report it.
        self._failed = task.exception()
        self._stop.set()

    # ------------------------------------------------------------------ status

    def status(self) -> LiveStatus:
        current = window_start(self.now(), self.interval)
        s = self.stats
        return LiveStatus(
            connections=len(self.connections),
            connected=sum(c.connected for c in self.connections),
            channels_wanted=sum(len(c.wanted) for c in self.connections),
            channels_joined=sum(len(c.joined & c.wanted) for c in self.connections),
            messages=s.messages,
            users_open_window=self.windows.users_in(current),
            malformed=s.malformed,
            reconnects=s.reconnects,
            windows_flushed=s.windows_flushed,
            rows_written=s.rows_written,
        )

    # ------------------------------------------------------------------ flushing

    async def flush(self, *, everything: bool = False) -> int:
        """Write closed windows (all windows with ``everything``) to the lake; rows written.

        A failed write puts the window back so the next flush retries it
        (:class:`~vieweratlas.sources.common.sink.WindowWriter`).
        """
        return await self.writer.flush(everything=everything)

    def _emit_metrics(self, rows: int) -> None:
        """One CloudWatch EMF line per flushed window (a no-op outside AWS)."""
        status = self.status()
        metrics.emit(
            metrics.NAMESPACE,
            {
                metrics.ROWS_COLLECTED: rows,
                metrics.CHANNELS_JOINED: status.channels_joined,
                metrics.RECONNECTS: status.reconnects - self._reconnects_reported,
            },
            {"Job": "collector"},
        )
        self._reconnects_reported = status.reconnects

    def _write_seen(self, written: Written) -> None:
        """The ``irc_seen`` side table of a window just written (in the writer's thread)."""
        self.lake.write("irc_seen", written.seen)

    # ------------------------------------------------------------------ running

    def stop(self) -> None:
        """Ask :meth:`run` to flush everything and return (safe from a signal handler)."""
        self._stop.set()

    @property
    def stop_event(self) -> asyncio.Event:
        """Set to stop (what SIGTERM/SIGINT set through ``sink.run_collector``)."""
        return self._stop

    async def start(self) -> None:
        """Fetch the channel list and open the connections (``run`` calls this)."""
        channels = await self.source.fetch()
        if not channels:
            log.warning("the channel list is empty; waiting for the next refresh")
        self._running = True
        self.set_channels(channels)
        for conn in self.connections:
            if conn not in self._tasks:
                self._start(conn)

    async def close(self) -> None:
        """Stop the connections and flush every window, the open one included."""
        self._stop.set()
        self._running = False
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self.flush(everything=True)

    async def run(self, duration: timedelta | None = None) -> LiveStats:
        """Collect until :meth:`stop` or ``duration``; flush the open window before returning."""
        deadline = None if duration is None else time.monotonic() + duration.total_seconds()
        next_refresh = time.monotonic() + self.refresh
        try:
            await self.start()
            while not self._stop.is_set():
                now = self.now()
                boundary = window_start(now, self.interval) + self.interval
                wait = (boundary - now).total_seconds()
                mono = time.monotonic()
                wait = min(wait, next_refresh - mono)
                if deadline is not None:
                    wait = min(wait, deadline - mono)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=max(wait, 0.0) + 0.001)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.refresh
                    await self._refresh()
                await self.flush()
        finally:
            await self.close()
        if self._failed is not None:
            raise self._failed
        return self.stats

    async def _refresh(self) -> None:
        try:
            channels = await self.source.fetch()
        except Exception as exc:  # keep collecting with the list we have
            log.warning("channel list refresh failed, keeping the current list: %s", exc)
            return
        before = set().union(*(c.wanted for c in self.connections))
        self.set_channels(channels)
        after = set(channels)
        log.info(
            "channel list refreshed: %d channels (%d new, %d gone)",
            len(after),
            len(after - before),
            len(before - after),
        )


async def run_live(
    settings: Settings,
    source: ChannelSource,
    *,
    duration: timedelta | None = None,
    on_status: Callable[[LiveStatus], None] | None = None,
    status_every: float = 1.0,
    handle_signals: bool = True,
) -> LiveStats:
    """Run a collector into ``settings.lake`` until ``duration``, SIGTERM or SIGINT.

    A signal stops collection and flushes the open window before returning (ECS gives a
    task 30 s between SIGTERM and SIGKILL). ``on_status`` is called every ``status_every``
    seconds with a :class:`LiveStatus`.
    """
    collector = LiveCollector(settings, Lake.open(settings.lake), source)
    return await run_collector(
        collector, duration, on_status=on_status, every=status_every, handle_signals=handle_signals
    )
