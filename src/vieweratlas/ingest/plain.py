"""The ``plain`` presence format and channel metadata files (CSV / Parquet / JSON Lines).

Presence: required ``channel,user`` and usually ``ts``; optional ``user_id``, ``messages``.
Channels: required ``channel, game, language`` (values may be empty); optional ``ts,
channel_id, display_name, viewers, title``. A file without a ``ts`` column is one snapshot taken at
``ImportOptions.snapshot_time``, by default the file's modification time floored to the
minute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from vieweratlas.errors import InputError
from vieweratlas.ingest.columns import (
    ColumnError,
    column_error,
    to_counts,
    to_names,
    to_optional_text,
    to_timestamps,
)
from vieweratlas.ingest.guard import Limits, Progress, head
from vieweratlas.ingest.tabular import Chunk, check_text, kind_of, read_chunks
from vieweratlas.lake.schema import TS

PRESENCE_COLUMNS = ("ts", "channel", "user", "user_id", "messages")
CHANNEL_COLUMNS = (
    "ts",
    "channel",
    "channel_id",
    "display_name",
    "game",
    "language",
    "viewers",
    "title",
)
DEFAULT_BASE_TIME = datetime(2019, 1, 1, tzinfo=UTC)
_PLATFORM_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class ImportOptions:
    """How files are turned into rows; one object instead of many parameters."""

    platform: str = "twitch"
    snapshot_time: datetime | None = None  # for files without a ts column
    bucket_len: timedelta = timedelta(seconds=300)  # chat comments → presence buckets
    channel: str | None = None  # for chat files that do not name their channel
    base_time: datetime = DEFAULT_BASE_TIME  # step 0 of the interactions data set
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not _PLATFORM_RE.match(self.platform):
            raise InputError("--platform", f"invalid platform name {self.platform!r}")
        for name in ("snapshot_time", "base_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.bucket_len <= timedelta(0):
            raise ValueError("bucket_len must be positive")


def snapshot_time(path: Path, opts: ImportOptions) -> datetime:
    """The time of a file without ``ts``: the option, else its mtime floored to the minute."""
    if opts.snapshot_time is not None:
        return opts.snapshot_time.astimezone(UTC)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return mtime.replace(second=0, microsecond=0)


def open_table(
    path: Path,
    columns: Sequence[str],
    required: Sequence[str],
    limits: Limits,
    progress: Progress | None,
) -> tuple[list[str], Iterator[Chunk]]:
    """Sniff, check and open a tabular file; fail early on missing required columns."""
    first = head(path, limits)
    kind = kind_of(path, first)
    if kind != "parquet":
        check_text(path, first)
    names, chunks = read_chunks(path, kind, columns, limits, progress)
    missing = [c for c in required if c not in names]
    if missing:
        found = ", ".join(names[:12]) or "none"
        raise InputError(
            str(path),
            f"missing required column {missing[0]!r} (found: {found})",
            line=1,
            field=missing[0],
        )
    return names, chunks


def _convert(
    path: Path,
    table: pa.Table,
    line_of: Callable[[int], int],
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]],
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for name, convert in converters.items():
        if name not in table.column_names:
            continue
        try:
            out[name] = convert(table[name])
        except ColumnError as exc:
            raise column_error(str(path), name, exc, line_of) from None
    return out


def plain_presence(
    path: Path, opts: ImportOptions, progress: Progress | None
) -> Iterator[pa.Table]:
    """Presence rows of a plain file, chunk by chunk (source ``import``)."""
    names, chunks = open_table(path, PRESENCE_COLUMNS, ("channel", "user"), opts.limits, progress)
    snap = None if "ts" in names else snapshot_time(path, opts)
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]] = {
        "ts": to_timestamps,
        "channel": lambda c: to_names(c, "a channel login"),
        "user": lambda c: to_names(c, "a user login"),
        "user_id": to_optional_text,
        "messages": lambda c: to_counts(c, pa.int32(), default=0),
    }
    for chunk in chunks:
        cols = _convert(path, chunk.table, chunk.line_of, converters)
        n = chunk.table.num_rows
        yield pa.table(
            {
                "ts": cols["ts"] if snap is None else pa.repeat(pa.scalar(snap, TS), n),
                "channel": cols["channel"],
                "user": cols["user"],
                "user_id": cols.get("user_id", pa.nulls(n, pa.string())),
                "source": pa.repeat("import", n),
                "messages": cols.get("messages", pa.repeat(pa.scalar(0, pa.int32()), n)),
                "platform": pa.repeat(opts.platform, n),
            }
        )


def channel_rows(path: Path, opts: ImportOptions, progress: Progress | None) -> Iterator[pa.Table]:
    """Channel metadata rows of a file, chunk by chunk."""
    names, chunks = open_table(
        path, CHANNEL_COLUMNS, ("channel", "game", "language"), opts.limits, progress
    )
    snap = None if "ts" in names else snapshot_time(path, opts)
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]] = {
        "ts": to_timestamps,
        "channel": lambda c: to_names(c, "a channel login"),
        "viewers": lambda c: to_counts(c, pa.int64(), default=None),
    }
    for text in ("channel_id", "display_name", "game", "language", "title"):
        converters[text] = to_optional_text
    for chunk in chunks:
        cols = _convert(path, chunk.table, chunk.line_of, converters)
        n = chunk.table.num_rows
        row: dict[str, pa.Array] = {
            "ts": cols["ts"] if snap is None else pa.repeat(pa.scalar(snap, TS), n),
            "channel": cols["channel"],
        }
        for name in ("channel_id", "display_name", "game", "language", "title"):
            row[name] = cols.get(name, pa.nulls(n, pa.string()))
        row["viewers"] = cols.get("viewers", pa.nulls(n, pa.int64()))
        row["platform"] = pa.repeat(opts.platform, n)
        yield pa.table(row)
