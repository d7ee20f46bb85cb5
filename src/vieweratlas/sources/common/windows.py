"""Presence windows: who was seen in which channel during which snapshot window.

Pure and clock-free: callers pass the time of each observation. A window starts at a
multiple of the interval since the Unix epoch (UTC), so a restarted collector lands in the
same windows as the one it replaces and the lake's key (ts, platform, channel, user)
de-duplicates anything written twice.

How a user was seen is kept as a bit set: a chat line (PRIVMSG/USERNOTICE), a JOIN, or a
NAMES (353) listing. The presence table only says ``messages``; ``messages == 0`` means the
user was seen through membership alone. The full picture goes to the small raw table
``irc_seen`` (``raw/irc/seen``), one row per presence row with ``via`` such as
``join,message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.lake.schema import PRESENCE, TS

SEEN_MESSAGE = 1
SEEN_JOIN = 2
SEEN_NAMES = 4
_VIA = ((SEEN_JOIN, "join"), (SEEN_MESSAGE, "message"), (SEEN_NAMES, "names"))


def window_start(now: datetime, interval: timedelta) -> datetime:
    """Start of the window holding ``now``: a multiple of ``interval`` since the epoch."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    step = int(interval.total_seconds() * 1_000_000)
    if step <= 0:
        raise ValueError("interval must be positive")
    us = int(now.timestamp() * 1_000_000)
    return datetime.fromtimestamp((us - us % step) / 1_000_000, tz=UTC)


@dataclass
class _Seen:
    messages: int = 0
    user_id: str | None = None
    via: int = 0


WindowRows = dict[tuple[str, str], _Seen]  # (channel, user) → what was seen


@dataclass
class Window:
    """One window's observations, plus members carried in from earlier windows.

    Carried members are kept as a snapshot and merged only when the window is turned into
    tables (in a worker thread), so the event loop never copies a million members at once.
    """

    rows: WindowRows = field(default_factory=dict)
    carried: dict[str, dict[str, int]] = field(default_factory=dict)
    carried_count: int = 0
    overlap: int = 0  # rows that are also in ``carried``

    def __len__(self) -> int:
        return len(self.rows) + self.carried_count - self.overlap

    def new_key(self, channel: str, user: str) -> None:
        if self.carried and user in self.carried.get(channel, ()):
            self.overlap += 1

    def merged(self) -> WindowRows:
        """``rows`` with the carried members folded in (``carried`` is emptied)."""
        rows = self.rows
        for channel, users in self.carried.items():
            for user, how in users.items():
                seen = rows.get((channel, user))
                if seen is None:
                    rows[(channel, user)] = _Seen(via=how)
                else:
                    seen.via |= how
        self.carried, self.carried_count, self.overlap = {}, 0, 0
        return rows


class PresenceWindows:
    """Observations grouped by window; closed windows are taken out and made into tables."""

    def __init__(
        self, interval: timedelta, *, platform: str = "twitch", source: str = "irc"
    ) -> None:
        self.interval = interval
        self.platform = platform
        self.source = source
        self._windows: dict[datetime, Window] = {}
        self._current: tuple[datetime, datetime, Window] | None = None

    def _window(self, now: datetime) -> Window:
        cur = self._current
        if cur is not None and cur[0] <= now < cur[1]:
            return cur[2]
        start = window_start(now, self.interval)
        window = self._windows.get(start)
        if window is None:
            window = self._windows[start] = Window()
        self._current = (start, start + self.interval, window)
        return window

    def _seen(self, now: datetime, channel: str, user: str) -> _Seen:
        window = self._window(now)
        seen = window.rows.get((channel, user))
        if seen is None:
            seen = window.rows[(channel, user)] = _Seen()
            window.new_key(channel, user)
        return seen

    def message(self, now: datetime, channel: str, user: str, user_id: str | None) -> None:
        """A chat line (PRIVMSG/USERNOTICE) by ``user`` in ``channel``."""
        seen = self._seen(now, channel, user)
        seen.messages += 1
        seen.via |= SEEN_MESSAGE
        if user_id:
            seen.user_id = user_id

    def member(self, now: datetime, channel: str, user: str, how: int = SEEN_JOIN) -> None:
        """``user`` seen in ``channel`` through membership (JOIN or NAMES)."""
        self._seen(now, channel, user).via |= how

    def carry(self, now: datetime, members: Mapping[str, Mapping[str, int]]) -> None:
        """Members still joined count in the window of ``now`` too (snapshot, merged later)."""
        window = self._window(now)
        window.merged()  # fold any earlier snapshot first: at most one pending at a time
        window.carried = {ch: dict(users) for ch, users in members.items() if users}
        window.carried_count = sum(len(u) for u in window.carried.values())
        window.overlap = sum(1 for ch, user in window.rows if user in window.carried.get(ch, ()))

    def users_in(self, start: datetime) -> int:
        window = self._windows.get(start)
        return 0 if window is None else len(window)

    def pending(self) -> list[datetime]:
        return sorted(self._windows)

    def take(self, before: datetime | None = None) -> list[tuple[datetime, Window]]:
        """Remove windows starting before ``before`` (all when None), oldest first.

        Cheap (no merging, no table building), so the event loop never stalls; turn them
        into tables with :meth:`tables`, e.g. in a worker thread.
        """
        out = []
        for start in sorted(self._windows):
            if before is not None and start >= before:
                continue
            out.append((start, self._windows.pop(start)))
            if self._current is not None and self._current[0] == start:
                self._current = None
        return out

    def restore(self, start: datetime, window: Window) -> None:
        """Put back a window whose write failed, so the next flush retries it."""
        rows = window.merged()
        target = self._windows.get(start)
        if target is None:
            target = self._windows[start] = Window()
        for key, old in rows.items():
            seen = target.rows.get(key)
            if seen is None:
                seen = target.rows[key] = _Seen()
                target.new_key(*key)
            seen.messages += old.messages
            seen.user_id = seen.user_id or old.user_id
            seen.via |= old.via

    def tables(self, start: datetime, window: Window) -> tuple[pa.Table, pa.Table]:
        """(presence, seen) rows of one taken window, with ``platform`` and ``source``."""
        rows = window.merged()
        n = len(rows)
        # One pass in insertion order (the lake sorts on write); constants via Arrow repeat.
        channel_col = [k[0] for k in rows]
        user_col = [k[1] for k in rows]
        seen_rows = list(rows.values())
        ts = pa.repeat(pa.scalar(start, TS), n)
        channels = pa.array(channel_col, pa.string())
        users = pa.array(user_col, pa.string())
        platform = pa.repeat(pa.scalar(self.platform, pa.string()), n)
        presence = pa.table(
            {
                "ts": ts,
                "channel": channels,
                "user": users,
                "user_id": pa.array([v.user_id for v in seen_rows], pa.string()),
                "source": pa.repeat(pa.scalar(self.source, pa.string()), n),
                "messages": pa.array([min(v.messages, 2**31 - 1) for v in seen_rows], pa.int32()),
                "platform": platform,
            }
        ).select([*PRESENCE.schema.names, "platform"])
        seen = pa.table(
            {
                "ts": ts,
                "channel": channels,
                "user": users,
                "via": pa.array([_VIA_NAMES[v.via] for v in seen_rows], pa.string()),
                "platform": platform,
            }
        )
        return presence, seen


def _via(bits: int) -> str:
    return ",".join(name for bit, name in _VIA if bits & bit)


_VIA_NAMES = [_via(bits) for bits in range(8)]
