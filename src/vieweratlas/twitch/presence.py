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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.lake.schema import PRESENCE, TS, TableSpec, register_table

SEEN_MESSAGE = 1
SEEN_JOIN = 2
SEEN_NAMES = 4
_VIA = ((SEEN_JOIN, "join"), (SEEN_MESSAGE, "message"), (SEEN_NAMES, "names"))

IRC_SEEN = register_table(
    TableSpec(
        name="irc_seen",
        path="raw/irc/seen",
        schema=pa.schema(
            [
                ("ts", TS),
                ("channel", pa.string()),
                ("user", pa.string()),
                ("via", pa.string()),
            ]
        ),
        key=("ts", "channel", "user"),
        lower=("channel", "user"),
        required=("ts", "channel", "user", "via"),
    )
)


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


class PresenceWindows:
    """Observations grouped by window; closed windows are taken out as Arrow tables."""

    def __init__(self, interval: timedelta, *, platform: str = "twitch") -> None:
        self.interval = interval
        self.platform = platform
        self._windows: dict[datetime, WindowRows] = {}
        self._current: tuple[datetime, datetime, WindowRows] | None = None

    def _bucket(self, now: datetime) -> WindowRows:
        cur = self._current
        if cur is not None and cur[0] <= now < cur[1]:
            return cur[2]
        start = window_start(now, self.interval)
        bucket = self._windows.setdefault(start, {})
        self._current = (start, start + self.interval, bucket)
        return bucket

    def message(self, now: datetime, channel: str, user: str, user_id: str | None) -> None:
        """A chat line (PRIVMSG/USERNOTICE) by ``user`` in ``channel``."""
        bucket = self._bucket(now)
        seen = bucket.get((channel, user))
        if seen is None:
            seen = bucket[(channel, user)] = _Seen()
        seen.messages += 1
        seen.via |= SEEN_MESSAGE
        if user_id:
            seen.user_id = user_id

    def member(self, now: datetime, channel: str, user: str, how: int = SEEN_JOIN) -> None:
        """``user`` seen in ``channel`` through membership (JOIN or NAMES)."""
        bucket = self._bucket(now)
        seen = bucket.get((channel, user))
        if seen is None:
            seen = bucket[(channel, user)] = _Seen()
        seen.via |= how

    def users_in(self, start: datetime) -> int:
        return len(self._windows.get(start, ()))

    def pending(self) -> list[datetime]:
        return sorted(self._windows)

    def take(self, before: datetime | None = None) -> list[tuple[datetime, WindowRows]]:
        """Remove windows starting before ``before`` (all when None), oldest first.

        Cheap (no table building), so the event loop never stalls; turn the rows into
        tables with :meth:`tables`, e.g. in a worker thread.
        """
        out = []
        for start in sorted(self._windows):
            if before is not None and start >= before:
                continue
            out.append((start, self._windows.pop(start)))
            if self._current is not None and self._current[0] == start:
                self._current = None
        return out

    def restore(self, start: datetime, rows: WindowRows) -> None:
        """Put back a window whose write failed, so the next flush retries it."""
        bucket = self._windows.setdefault(start, {})
        for key, old in rows.items():
            seen = bucket.setdefault(key, _Seen())
            seen.messages += old.messages
            seen.user_id = seen.user_id or old.user_id
            seen.via |= old.via

    def tables(self, start: datetime, rows: WindowRows) -> tuple[pa.Table, pa.Table]:
        """(presence, irc_seen) rows of one window, with ``platform``."""
        keys = sorted(rows)
        n = len(keys)
        ts = pa.array([start] * n, TS)
        channels = pa.array([k[0] for k in keys], pa.string())
        users = pa.array([k[1] for k in keys], pa.string())
        platform = pa.array([self.platform] * n, pa.string())
        presence = pa.table(
            {
                "ts": ts,
                "channel": channels,
                "user": users,
                "user_id": pa.array([rows[k].user_id for k in keys], pa.string()),
                "source": pa.array(["irc"] * n, pa.string()),
                "messages": pa.array([min(rows[k].messages, 2**31 - 1) for k in keys], pa.int32()),
                "platform": platform,
            }
        ).select([*PRESENCE.schema.names, "platform"])
        seen = pa.table(
            {
                "ts": ts,
                "channel": channels,
                "user": users,
                "via": pa.array([_via(rows[k].via) for k in keys], pa.string()),
                "platform": platform,
            }
        )
        return presence, seen


def _via(bits: int) -> str:
    return ",".join(name for bit, name in _VIA if bits & bit)
