"""The ``plain`` presence format and channel metadata files (CSV / Parquet / JSON Lines).

Presence: required ``channel,user`` and usually ``ts``; optional ``user_id``, ``messages``.
Channels: required ``channel, game, language`` (values may be empty); optional ``ts,
channel_id, display_name, viewers, title``.

The time column is ``ts``; without one, a column named like a time (:data:`TIME_COLUMNS`,
any case) is read as ``ts`` and the import says so; two such columns and no ``ts`` are
refused (which one is meant?). A file without any time column is one snapshot taken at
``ImportOptions.snapshot_time``, by default the file's modification time: floored to the
minute for presence, to the microsecond for channel metadata (a corrected file saved later
is a newer observation and wins; re-importing the unchanged file adds nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from vieweratlas.errors import InputError
from vieweratlas.ingest.columns import (
    MAX_ID,
    MAX_TIME,
    MIN_TIME,
    RANGE_TEXT,
    ColumnError,
    column_error,
    describe_rule,
    to_counts,
    to_names,
    to_optional_text,
    to_timestamps,
)
from vieweratlas.ingest.guard import Limits, Progress, head
from vieweratlas.ingest.report import ImportNotes
from vieweratlas.ingest.tabular import Chunk, check_text, kind_of, read_chunks
from vieweratlas.lake.schema import TS
from vieweratlas.lake.writer import NORMALISED
from vieweratlas.platforms import Platform
from vieweratlas.platforms import platform as platform_named

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
# Column names read as the time when a file has no ``ts`` column (compared lower-cased).
TIME_COLUMNS = (
    "timestamp",
    "time",
    "date",
    "datetime",
    "date_time",
    "created_at",
    "created",
    "seen_at",
    "observed_at",
    "captured_at",
    "collected_at",
    "snapshot_time",
    "time_utc",
    "timestamp_utc",
    "ts_utc",
)


@dataclass(frozen=True)
class ImportOptions:
    """How files are turned into rows; one object instead of many parameters."""

    platform: str = "twitch"
    snapshot_time: datetime | None = None  # for files without a ts column
    bucket_len: timedelta = timedelta(seconds=300)  # chat comments → presence buckets
    channel: str | None = None  # for chat files that do not name their channel
    base_time: datetime = DEFAULT_BASE_TIME  # step 0 of the interactions data set
    limits: Limits = field(default_factory=Limits)
    notes: ImportNotes = field(default_factory=ImportNotes)  # filled in while reading

    def __post_init__(self) -> None:
        try:
            platform_named(self.platform)  # exact: "twitch\n" is not "twitch"
        except KeyError as exc:
            raise InputError("--platform", str(exc.args[0])) from None
        for name in ("snapshot_time", "base_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.snapshot_time is not None and not MIN_TIME <= self.snapshot_time < MAX_TIME:
            raise InputError("--snapshot-time", f"{self.snapshot_time:%Y-%m-%d} {RANGE_TEXT}")
        if self.bucket_len <= timedelta(0):
            raise ValueError("bucket_len must be positive")

        if self.channel is not None:  # --channel of chat files: the platform's form
            login = self.rules.normalize(self.channel)
            if login is None:
                rule = describe_rule(self.rules, "channel")
                raise InputError("--channel", f"{self.channel[:60]!r} is {rule}")
            object.__setattr__(self, "channel", login)

    @property
    def rules(self) -> Platform:
        """The platform whose name rule the rows follow."""
        return platform_named(self.platform)


def snapshot_time(path: Path, opts: ImportOptions, *, floor_to_minute: bool = True) -> datetime:
    """The time of a file without a time column: the option, else its modification time
    (floored to the minute, or to the microsecond)."""
    if opts.snapshot_time is not None:
        return opts.snapshot_time.astimezone(UTC)
    stat = path.stat()
    mtime = datetime.fromtimestamp(stat.st_mtime_ns // 1000 / 1e6, tz=UTC)
    if floor_to_minute:
        mtime = mtime.replace(second=0, microsecond=0)
    if not MIN_TIME <= mtime < MAX_TIME:
        raise InputError(
            str(path), f"modification time {mtime:%Y-%m-%d} {RANGE_TEXT}; pass --snapshot-time"
        )
    return mtime


def time_column(path: Path, names: Sequence[str]) -> str | None:
    """The column holding the time: ``ts``, else the one column named like a time."""
    if "ts" in names:
        return "ts"
    found = [n for n in names if n.strip().lower() in TIME_COLUMNS]
    if len(found) > 1:
        listed = ", ".join(repr(n) for n in found)
        raise InputError(
            str(path),
            f"several time columns ({listed}) and no 'ts': rename the one to use to ts",
            line=1,
            field=found[0],
        )
    return found[0] if found else None


def open_table(
    path: Path,
    columns: Sequence[str],
    required: Sequence[str],
    opts: ImportOptions,
    progress: Progress | None,
) -> tuple[str | None, Iterator[Chunk]]:
    """Sniff, check and open a tabular file; fail early on missing required columns.

    Returns the file's time column (None: none) and chunks whose time column, whatever its
    name in the file, is called ``ts``.
    """
    limits = opts.limits
    first = head(path, limits)
    kind = kind_of(path, first)
    if kind != "parquet":
        check_text(path, first)

    def wanted(names: Sequence[str]) -> list[str]:
        ts = time_column(path, names) if "ts" in columns else None
        return [*columns, ts] if ts not in (None, "ts") else list(columns)

    names, chunks = read_chunks(path, kind, wanted, limits, progress)
    missing = [c for c in required if c not in names]
    if missing:
        found = ", ".join(names[:12]) or "none"
        raise InputError(
            str(path),
            f"missing required column {missing[0]!r} (found: {found})",
            line=1,
            field=missing[0],
        )
    ts = time_column(path, names)
    if ts not in (None, "ts"):
        opts.notes.time_columns.append((str(path), ts))
        return ts, (_renamed(c, ts) for c in chunks)
    return ts, chunks


def _renamed(chunk: Chunk, column: str) -> Chunk:
    names = ["ts" if n == column else n for n in chunk.table.column_names]
    return Chunk(chunk.table.rename_columns(names), chunk.first_record, chunk.locate)


def _convert(
    path: Path,
    table: pa.Table,
    line_of: Callable[[int], int],
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]],
    field_names: dict[str, str] | None = None,
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for name, convert in converters.items():
        if name not in table.column_names:
            continue
        try:
            out[name] = convert(table[name])
        except ColumnError as exc:
            shown = (field_names or {}).get(name, name)
            raise column_error(str(path), shown, exc, line_of) from None
    return out


def _names(opts: ImportOptions, what: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    """A converter applying the platform's name rule, counting normalised rows."""
    rules = opts.rules

    def convert(col: pa.ChunkedArray) -> pa.Array:
        arr, changed = to_names(col, rules, what)
        opts.notes.add_normalised(what, changed)
        return arr

    return convert


def plain_presence(
    path: Path, opts: ImportOptions, progress: Progress | None
) -> Iterator[pa.Table]:
    """Presence rows of a plain file, chunk by chunk (source ``import``)."""
    ts_col, chunks = open_table(path, PRESENCE_COLUMNS, ("channel", "user"), opts, progress)
    snap = None if ts_col else snapshot_time(path, opts)
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]] = {
        "ts": to_timestamps,
        "channel": _names(opts, "channel"),
        "user": _names(opts, "user"),
        "user_id": lambda c: to_optional_text(c, MAX_ID),
        "messages": lambda c: to_counts(c, pa.int32(), default=0),
    }
    shown = {"ts": ts_col or "ts"}
    for chunk in chunks:
        cols = _convert(path, chunk.table, chunk.line_of, converters, shown)
        n = chunk.table.num_rows
        if snap is not None:
            opts.notes.add_snapshot(str(path), snap, n)
        # Names went through the platform's rule and the platform is its exact name: the
        # stage need not normalise them again.
        yield pa.table(
            {
                "ts": cols["ts"] if snap is None else pa.repeat(pa.scalar(snap, TS), n),
                "channel": cols["channel"],
                "user": cols["user"],
                "user_id": cols.get("user_id", pa.nulls(n, pa.string())),
                "source": pa.repeat("import", n),
                "messages": cols.get("messages", pa.repeat(pa.scalar(0, pa.int32()), n)),
                "platform": pa.repeat(opts.platform, n),
            },
            metadata={NORMALISED: b"1"},
        )


def channel_rows(path: Path, opts: ImportOptions, progress: Progress | None) -> Iterator[pa.Table]:
    """Channel metadata rows of a file, chunk by chunk."""
    ts_col, chunks = open_table(
        path, CHANNEL_COLUMNS, ("channel", "game", "language"), opts, progress
    )
    snap = None if ts_col else snapshot_time(path, opts, floor_to_minute=False)
    converters: dict[str, Callable[[pa.ChunkedArray], pa.Array]] = {
        "ts": to_timestamps,
        "channel": _names(opts, "channel"),
        "viewers": lambda c: to_counts(c, pa.int64(), default=None),
        "channel_id": lambda c: to_optional_text(c, MAX_ID),
    }
    for text in ("display_name", "game", "language", "title"):
        converters[text] = to_optional_text
    shown = {"ts": ts_col or "ts"}
    for chunk in chunks:
        cols = _convert(path, chunk.table, chunk.line_of, converters, shown)
        n = chunk.table.num_rows
        if snap is not None:
            opts.notes.add_snapshot(str(path), snap, n)
        row: dict[str, pa.Array] = {
            "ts": cols["ts"] if snap is None else pa.repeat(pa.scalar(snap, TS), n),
            "channel": cols["channel"],
        }
        for name in ("channel_id", "display_name", "game", "language", "title"):
            row[name] = cols.get(name, pa.nulls(n, pa.string()))
        row["viewers"] = cols.get("viewers", pa.nulls(n, pa.int64()))
        row["platform"] = pa.repeat(opts.platform, n)
        yield pa.table(row)
