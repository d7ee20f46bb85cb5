"""Writing to the lake: stage rows on local disk, then commit new files all together.

A write never reads what the lake already holds, so its time and memory depend on the rows
written, not on the size of the partition:

1. :meth:`Stage.append` validates and normalises each batch (required values, times in
   :data:`EARLIEST`..:data:`LATEST`, lower-case names) and spills it, ordered by time
   bucket, to one Arrow file in a private temporary folder;
2. :meth:`Stage.commit` takes the buckets (ten minutes of one platform) in time order, joins
   neighbours up to :data:`TARGET_ROWS` rows, and for each group drops duplicate keys, sorts
   the rows for the analysis (:mod:`vieweratlas.lake.order`) and writes one Parquet file
   named by its time range and the SHA-256 of its bytes (:mod:`vieweratlas.lake.files`),
   :data:`WORKERS` groups at a time; then :func:`~vieweratlas.lake.txn.commit` makes them
   all visible together.

Every duplicate of a key has the same ``ts``, hence the same bucket and group: one write
never stores a key twice. The same rows written again produce byte-identical files under
the same names, which publishing recognises (by digest) and skips. Keys written by two
different writes (an overlapping import, two collectors) may sit in two files; such files
overlap in time, and readers de-duplicate them (``Lake.read``) until ``lake compact``
merges them.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vieweratlas.errors import LakeError, first_line
from vieweratlas.lake.duck import session
from vieweratlas.lake.files import file_name, sha256_stream
from vieweratlas.lake.order import sort_unique
from vieweratlas.lake.schema import PARTITION_SCHEMA, TableSpec
from vieweratlas.lake.txn import (
    LOCK_NAME,
    STALE_UNLOCKED,
    Commit,
    apply,
    discard,
    hold_lock,
    new_txid,
    owned_staging,
    owner_alive,
    recover,
    staging_path,
    write_record,
)
from vieweratlas.platforms import PLATFORMS

if TYPE_CHECKING:
    from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)

ROW_GROUP_SIZE = 1_000_000
# Rows per data file (at most; a file is one group of buckets). WORKERS groups are in memory
# at once, each about 160 bytes a row while sorted: 3M rows keep an import under 2 GB.
TARGET_ROWS = 3_000_000
# Spill granularity: groups are cut at bucket edges, so files of one write never overlap
# in time unless one bucket alone holds more than TARGET_ROWS rows.
BUCKET = timedelta(minutes=10)
WORKERS = 2  # groups sorted and encoded at once (NumPy, Arrow and Parquet release the GIL)
EARLIEST = datetime(2005, 1, 1, tzinfo=UTC)  # before any streaming platform
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
STAGE_PREFIX = "vieweratlas-stage-"
NEW_STAGE_PREFIX = "vieweratlas-newstage-"  # being created: its lock not taken yet
# Schema metadata key of a batch whose names (the spec's ``lower`` columns) and ``platform``
# are already as stored (trimmed, folded per platform): the importers' readers, which
# normalised them with the platform's rule, say so and spare the stage a second pass.
NORMALISED = b"vieweratlas.normalised"
_US = 1_000_000
_BUCKET_US = int(BUCKET.total_seconds()) * _US


@dataclass(frozen=True)
class WriteResult:
    """What one write added: rows given, rows in new files, the new files."""

    table: str
    rows_in: int
    rows_written: int
    files: tuple[str, ...] = field(default=())

    @property
    def duplicates(self) -> int:
        """Rows not stored anew: repeated keys in the input, or files already in the lake."""
        return self.rows_in - self.rows_written


@dataclass
class _Group:
    platform: str
    bucket: int  # first bucket of the group
    slices: list[tuple[int, int, int]]  # (batch number, offset, length) in the spill file
    rows: int


class Stage:
    """Rows staged for one write; nothing reaches the lake before :meth:`commit`."""

    def __init__(
        self, spec: TableSpec, *, memory_limit: str = "1GB", target_rows: int = TARGET_ROWS
    ) -> None:
        self.spec = spec
        self.memory_limit = memory_limit
        self.target_rows = target_rows
        sweep_temp()
        self._dir, self._lock = _locked_stage_dir()
        self.schema = pa.schema([*spec.schema, PARTITION_SCHEMA[0]])
        self._spill = self._dir / "rows.arrow"
        self._sink = pa.OSFile(str(self._spill), "wb")
        # The spill holds the file columns only (a run is one platform: its key says which),
        # LZ4-compressed: a big import's spill is written and read back once, and at 120M
        # rows disk throughput, not CPU, is what it costs. One thread: a run is small, and
        # handing its columns to the pool costs more CPU than compressing them.
        self._writer = pa.ipc.new_file(
            self._sink,
            spec.schema,
            options=pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False),
        )
        self._buckets: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        self._counts: dict[tuple[str, int], int] = {}
        self._batches = 0
        self._seen: dict[str, int] = {}
        self.rows = 0

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._sink.close()
        self._lock.__exit__(None, None, None)
        shutil.rmtree(self._dir, ignore_errors=True)

    # ------------------------------------------------------------------ staging

    def append(
        self,
        data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch],
        *,
        source: str | None = None,
    ) -> None:
        """Validate, normalise and spill rows; ``source`` (a file) names them in errors."""
        if isinstance(data, pa.Table | pa.RecordBatch):
            data = [data] if isinstance(data, pa.RecordBatch) else data.to_batches()
        where = source or self.spec.name
        for batch in data:
            if batch.num_rows == 0:
                continue
            first_row = self._seen.get(where, 0) + 1
            self._seen[where] = first_row - 1 + batch.num_rows
            prepared = self._prepare(batch, where, first_row)
            self._spill_batch(prepared)
            self.rows += batch.num_rows

    def _prepare(self, batch: pa.RecordBatch, where: str, first_row: int) -> pa.RecordBatch:
        spec = self.spec
        missing = [n for n in self.schema.names if n not in batch.schema.names]
        if missing:
            raise LakeError(f"{spec.name}: rows lack column(s) {', '.join(missing)}")
        columns = []
        normalised = NORMALISED in (batch.schema.metadata or {})
        keep_case = None if normalised else _keeps_case(batch)
        for f in self.schema:
            col = batch.column(f.name)
            try:
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                if not normalised and (f.name in spec.lower or f.name == "platform"):
                    trimmed = pc.utf8_trim_whitespace(col.cast(pa.string()))
                    col = pc.utf8_lower(trimmed)
                    if keep_case is not None and f.name != "platform":
                        col = pc.if_else(keep_case, trimmed, col)
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                problem = " ".join(str(exc).split())[:160]
                raise LakeError(f"{where}: field {f.name!r}: {problem}") from None
            if (f.name in spec.required or f.name == "platform") and col.null_count:
                row = first_row + int(pc.indices_nonzero(col.is_null())[0].as_py())
                raise LakeError(f"{where}: row {row}: field {f.name!r}: a value is required")
            if pa.types.is_timestamp(f.type):
                _check_times(col, where, f.name, first_row)
            columns.append(col)
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _spill_batch(self, batch: pa.RecordBatch) -> None:
        ts = batch.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
        bucket = np.floor_divide(ts, _BUCKET_US)
        platform = pc.dictionary_encode(batch.column("platform"))
        codes = platform.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        names = platform.dictionary.to_pylist()
        key = codes * (1 << 40) + (bucket - int(bucket.min()))
        batch = batch.select(self.spec.schema.names)
        if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):  # time-ordered input: as is
            order = np.argsort(key, kind="stable")
            key = key[order]
            batch = batch.take(pa.array(order))
        else:
            order = np.arange(len(key))
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        ends = np.append(starts[1:], len(key))
        sorted_bucket = bucket[order]
        sorted_codes = codes[order]
        # One spilled record batch per (platform, bucket) run: a commit later reads back only
        # the runs of one group, so its memory is WORKERS groups whatever the input's size.
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            k = (names[int(sorted_codes[s])], int(sorted_bucket[s]))
            self._writer.write_batch(batch.slice(s, e - s))
            self._buckets.setdefault(k, []).append((self._batches, 0, e - s))
            self._counts[k] = self._counts.get(k, 0) + e - s
            self._batches += 1

    # ------------------------------------------------------------------ commit

    def groups(self) -> list[_Group]:
        """Buckets in time order, neighbours (same platform and day) joined up to the target.

        A bucket bigger than the target is cut into several groups (whose files then overlap
        in time and are de-duplicated by readers like any overlapping files).
        """
        out: list[_Group] = []
        current: _Group | None = None
        for platform, bucket in sorted(self._buckets):
            slices = self._buckets[(platform, bucket)]
            n = self._counts[(platform, bucket)]
            same_day = current is not None and (
                current.platform == platform and _day(current.bucket) == _day(bucket)
            )
            if current is not None and same_day and current.rows + n <= self.target_rows:
                current.slices.extend(slices)
                current.rows += n
                continue
            if current is not None:
                out.append(current)
            current = _Group(platform, bucket, [], 0)
            for piece in slices:
                if current.rows and current.rows + piece[2] > self.target_rows:
                    out.append(current)
                    current = _Group(platform, bucket, [], 0)
                current.slices.append(piece)
                current.rows += piece[2]
        if current is not None:
            out.append(current)
        return out

    def commit(self, lake: Lake, *, retire: tuple[str, ...] = ()) -> WriteResult:
        """Write every group as a new file and make them visible together (or none)."""
        self._writer.close()
        self._sink.close()
        recover(lake)
        groups = self.groups()
        if not groups and not retire:
            return WriteResult(self.spec.name, self.rows, 0)
        con = session(memory_limit=self.memory_limit, spill_dir=self._dir / "spill")
        lock = threading.Lock()  # one DuckDB connection, used by at most one group at a time

        def write(item: tuple[int, _Group]) -> tuple[str, str, int]:
            i, g = item
            return self._write_group(lake, (con, lock), g, staging_path(txid, f"{i:06d}.parquet"))

        try:
            txid = new_txid()
            committed = False
            try:
                with owned_staging(lake, txid), ThreadPoolExecutor(WORKERS) as pool:
                    futures = [pool.submit(write, item) for item in enumerate(groups)]
                    try:
                        staged = [f.result() for f in futures]
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
                    record = Commit(txid, tuple((s, f) for s, f, _ in staged), retire)
                    write_record(lake, record)
                    committed = True  # from here on the record decides: see txn.recover
                    published = apply(lake, record)
            except BaseException:
                if not committed:
                    discard(lake, txid)
                raise
        except duckdb.OutOfMemoryException:
            raise LakeError(
                f"{self.spec.name}: out of memory while sorting (limit {self.memory_limit}); "
                "nothing was written"
            ) from None
        except (duckdb.Error, MemoryError, pa.ArrowMemoryError) as exc:
            msg = first_line(exc)
            raise LakeError(
                f"{self.spec.name}: cannot write ({msg}); nothing was written"
            ) from None
        finally:
            con.close()
        # ``published`` follows the record's order; a name may differ from the one planned.
        new = tuple(f for f, created in published if created)
        written = sum(n for (_, _, n), (_, c) in zip(staged, published, strict=True) if c)
        log.info(
            "%s: %d rows in, %d in %d new file(s)", self.spec.name, self.rows, written, len(new)
        )
        return WriteResult(self.spec.name, self.rows, written, new)

    def _write_group(
        self,
        lake: Lake,
        duck: tuple[duckdb.DuckDBPyConnection, threading.Lock],
        group: _Group,
        staged: str,
    ) -> tuple[str, str, int]:
        spec = self.spec
        # Read (not memory-mapped): the pages of one group are freed after it, so resident
        # memory does not grow with the size of the whole input.
        with pa.OSFile(str(self._spill)) as f:
            source = pa.ipc.open_file(f)
            table = pa.Table.from_batches(
                [source.get_batch(b).slice(o, n) for b, o, n in group.slices], schema=spec.schema
            )
        rows = sort_unique(spec, table)
        if rows is None:  # a key that the sort order does not group: let DuckDB do it
            con, lock = duck
            with lock:
                con.register(
                    "_group",
                    table.append_column("platform", pa.repeat(group.platform, table.num_rows)),
                )
                rows = con.sql(distinct_sql(spec, "_group")).to_arrow_table()
                con.unregister("_group")
        del table
        rows = rows.select(spec.schema.names).cast(spec.schema)
        local = Path(lake.path(staged)) if lake.is_local else self._dir / posixpath.basename(staged)
        local.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            rows,
            local,
            compression="zstd",
            row_group_size=ROW_GROUP_SIZE,
            write_statistics=True,
        )
        with local.open("rb") as f:
            digest = sha256_stream(f)
        if not lake.is_local:
            lake.put_file(staged, local)
            local.unlink()
        first, last = pc.min_max(rows.column("ts")).values()
        date = f"{first.as_py():%Y-%m-%d}"
        name = file_name(first.as_py(), last.as_py(), digest)
        final = posixpath.join(lake.partition_dir(spec, group.platform, date), name)
        return staged, final, rows.num_rows


def distinct_sql(spec: TableSpec, relation: str, *, columns: list[str] | None = None) -> str:
    """One row per key (with ``platform``), the preferred duplicate kept, in file order.

    Presence keeps the duplicate with most messages; every remaining tie is broken by the
    other columns, so the same rows always give the same output, byte for byte.
    """
    cols = columns or [*spec.schema.names]
    partition, tiebreak = dedup_window(spec, cols)
    order = [*spec.sort, *[k for k in spec.key if k not in spec.sort]]
    select = ", ".join(_q(c) for c in cols)
    # Column names come from the table specs; ``relation`` is the caller's own view name.
    return (
        f"SELECT {select} FROM {relation} "  # noqa: S608
        f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {tiebreak}) = 1 "
        f"ORDER BY {', '.join(_q(c) for c in order)}"
    )


def dedup_window(spec: TableSpec, columns: list[str]) -> tuple[str, str]:
    """The ``PARTITION BY`` and ``ORDER BY`` lists of the window that numbers a key's
    duplicates, the preferred one first (shared by readers and the Athena views)."""
    key = ["platform", *spec.key] if "platform" not in spec.key else list(spec.key)
    names = set(columns) | set(key)
    prefer = ['"messages" DESC'] if "messages" in names else []
    rest = [f'"{c}" ASC NULLS FIRST' for c in sorted(names - set(key) - {"messages", "date"})]
    return ", ".join(_q(k) for k in key), ", ".join([*prefer, *rest]) or "1"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_times(col: pa.Array, where: str, name: str, first_row: int) -> None:
    """Refuse times outside EARLIEST..LATEST, naming the first bad row."""
    if col.null_count == len(col):
        return
    lo = pa.scalar(EARLIEST, col.type)
    hi = pa.scalar(LATEST, col.type)
    bad = pc.or_(pc.less(col, lo), pc.greater_equal(col, hi))
    if not pc.any(bad).as_py():
        return
    i = int(pc.indices_nonzero(pc.fill_null(bad, False))[0].as_py())
    micros = col.cast(pa.int64())[i].as_py()
    year = 1970 + int(micros // (_US * 86400 * 365.2425))
    raise LakeError(
        f"{where}: row {first_row + i}: field {name!r}: time in year {year} is outside "
        f"{EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}"
    )


def _day(bucket: int) -> int:
    return bucket * _BUCKET_US // (86400 * _US)


def _locked_stage_dir() -> tuple[Path, contextlib.AbstractContextManager[None]]:
    """A new private staging folder whose lock is held before sweepers can see it.

    The folder is made under :data:`NEW_STAGE_PREFIX`, which :func:`sweep_temp` judges by
    age only, and renamed into :data:`STAGE_PREFIX` once its lock is held: a sweeper never
    finds a live writer's stage with a free lock (between creating the lock file and
    taking it), so it cannot delete a stage being created.
    """
    for _ in range(10):
        fresh = Path(tempfile.mkdtemp(prefix=NEW_STAGE_PREFIX))
        lock = hold_lock(fresh / LOCK_NAME)
        lock.__enter__()
        final = fresh.with_name(STAGE_PREFIX + fresh.name.removeprefix(NEW_STAGE_PREFIX))
        try:
            fresh.rename(final)  # fails if a (non-empty) leftover has that name
        except OSError:
            lock.__exit__(None, None, None)
            shutil.rmtree(fresh, ignore_errors=True)
            continue
        return final, lock
    raise LakeError(f"cannot create a staging folder in {tempfile.gettempdir()}")


def sweep_temp(tmp: str | None = None) -> int:
    """Remove staging folders of writers that died (their lock is free); returns how many."""
    removed = 0
    base = Path(tmp or tempfile.gettempdir())
    for folder in base.glob(f"{NEW_STAGE_PREFIX}*"):
        # Killed between creating the folder and publishing it under STAGE_PREFIX.
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime >= STALE_UNLOCKED.total_seconds():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    for folder in base.glob(f"{STAGE_PREFIX}*"):
        lock = folder / LOCK_NAME
        try:
            if lock.exists():
                if owner_alive(lock):
                    continue
            elif time.time() - folder.stat().st_mtime < STALE_UNLOCKED.total_seconds():
                continue  # just created (lock not taken yet) or another version's, recent
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed staging folder %s left by a writer that died", folder)
        removed += 1
    return removed


def _keeps_case(batch: pa.RecordBatch) -> pa.Array | None:
    """Rows whose names keep their case: those of case-sensitive platforms (platforms.py;
    a YouTube channel id lower-cased is no longer the id). None when there are none."""
    sensitive = [p.name for p in PLATFORMS.values() if not p.case_insensitive]
    if not sensitive or "platform" not in batch.schema.names:
        return None
    platform = batch.column("platform")
    if not pa.types.is_dictionary(platform.type):
        platform = pc.dictionary_encode(platform.cast(pa.string()))  # a few distinct values
    names = pc.utf8_lower(pc.utf8_trim_whitespace(platform.dictionary.cast(pa.string())))
    sensitive_names = pc.fill_null(pc.is_in(names, value_set=pa.array(sensitive)), False)
    if not pc.any(sensitive_names).as_py():
        return None
    return pc.fill_null(sensitive_names.take(platform.indices), False)
