"""What a lake holds: per table, files, rows, time range and platforms — from metadata only.

Rows and times come from each Parquet file's footer (row counts and the ``ts`` column's
min/max statistics), platforms and days from the Hive partition folders, so describing a
lake reads a few kilobytes per file and never a data page. A file whose footer cannot be
read (truncated, not Parquet) is listed as unreadable instead of failing the whole report.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vieweratlas.lake.schema import TABLES
from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)

FOOTER_READERS = 16
_PLATFORM = re.compile(r"^platform=(.+)$")
_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class TableInventory:
    """One lake table as its files describe it (``first``/``last``: ``ts`` range, UTC)."""

    name: str
    files: int
    rows: int
    bytes: int
    first: datetime | None
    last: datetime | None
    platforms: tuple[str, ...]
    unreadable: tuple[str, ...]  # lake-relative paths whose Parquet footer is unreadable

    @property
    def empty(self) -> bool:
        return self.rows == 0


@dataclass(frozen=True)
class LakeInventory:
    """A whole lake: does its root exist, and what each table holds."""

    url: str
    exists: bool
    tables: tuple[TableInventory, ...]

    def table(self, name: str) -> TableInventory:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def empty(self) -> bool:
        return all(t.files == 0 for t in self.tables)


def lake_exists(lake: Lake) -> bool:
    """Whether the lake's root is there. On an object store a prefix exists once it has
    objects, so an S3 lake "exists" when its bucket answers (emptiness is told apart by
    :func:`describe`)."""
    if lake.is_local:
        return bool(lake.fs.get_file_info(lake.root).type == pafs.FileType.Directory)
    return True


def _partition(path: str) -> tuple[str | None, date | None]:
    platform: str | None = None
    day: date | None = None
    for segment in path.split("/"):
        if m := _PLATFORM.match(segment):
            platform = m.group(1)
        elif m := _DATE.match(segment):
            try:
                day = date.fromisoformat(m.group(1))
            except ValueError:
                day = None
    return platform, day


def table_files(lake: Lake, name: str) -> list[str]:
    """The table's Parquet files (lake-relative), from one listing."""
    return lake.list_files(TABLES[name].path, suffix=".parquet")


def partition_day(rel: str) -> date | None:
    """The ``date=`` partition of a lake path (None when absent or invalid)."""
    return _partition(rel)[1]


def partition_platform(rel: str) -> str | None:
    """The ``platform=`` partition of a lake path (None when absent)."""
    return _partition(rel)[0]


def _footer(lake: Lake, rel: str) -> tuple[int, pq.FileMetaData] | None:
    try:
        with lake.fs.open_input_file(lake.path(rel)) as f:
            return f.size(), pq.read_metadata(f)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        log.warning("lake %s: %s: unreadable Parquet footer (%s)", lake.url, rel, exc)
        return None


def describe_table(
    lake: Lake,
    name: str,
    *,
    first_day: date | None = None,
    last_day: date | None = None,
    files: list[str] | None = None,
) -> TableInventory:
    """One table's inventory; ``first_day``/``last_day`` keep only those date partitions,
    ``files`` is a listing already made (:func:`table_files`)."""
    chosen: list[str] = []
    for rel in table_files(lake, name) if files is None else files:
        day = partition_day(rel)
        if day is not None and (
            (first_day is not None and day < first_day) or (last_day is not None and day > last_day)
        ):
            continue
        chosen.append(rel)
    rows = size = 0
    first: datetime | None = None
    last: datetime | None = None
    platforms: set[str] = set()
    unreadable: list[str] = []
    # Footer reads are small and latency-bound (one or two requests each on S3): in parallel.
    with ThreadPoolExecutor(max_workers=FOOTER_READERS) as pool:
        footers = list(pool.map(lambda rel: _footer(lake, rel), chosen))
    for rel, footer in zip(chosen, footers, strict=True):
        platform, _ = _partition(rel)
        if footer is None:
            unreadable.append(rel)
            continue
        nbytes, meta = footer
        size += nbytes
        rows += meta.num_rows
        if platform is not None and meta.num_rows:
            platforms.add(platform)
        lo, hi = _ts_range(meta)
        if lo is not None and (first is None or lo < first):
            first = lo
        if hi is not None and (last is None or hi > last):
            last = hi
    return TableInventory(
        name, len(chosen), rows, size, first, last, tuple(sorted(platforms)), tuple(unreadable)
    )


def _ts_range(meta: pq.FileMetaData) -> tuple[datetime | None, datetime | None]:
    names = meta.schema.to_arrow_schema().names
    if "ts" not in names:
        return None, None
    col = names.index("ts")
    lo: datetime | None = None
    hi: datetime | None = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(col).statistics
        if stats is None or not stats.has_min_max:
            continue
        a, b = _aware(stats.min), _aware(stats.max)
        lo = a if lo is None or a < lo else lo
        hi = b if hi is None or b > hi else hi
    return lo, hi


def _aware(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"ts statistics are not times: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def describe(lake: Lake, tables: tuple[str, ...] | None = None) -> LakeInventory:
    """The lake's inventory over ``tables`` (default: every table of the schema)."""
    exists = lake_exists(lake)
    names = tables if tables is not None else tuple(TABLES)
    described = tuple(describe_table(lake, n) for n in names) if exists else ()
    if not exists:
        described = tuple(TableInventory(n, 0, 0, 0, None, None, (), ()) for n in names)
    return LakeInventory(lake.url, exists, described)
