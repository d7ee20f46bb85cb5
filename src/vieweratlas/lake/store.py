"""The lake: Hive-partitioned Parquet on a local folder (or any ``pyarrow.fs`` filesystem).

Writes are atomic and idempotent:

* every file is written completely under a hidden temporary name and renamed into place
  (on object stores: one PUT of a complete object), so readers never see half a file;
* rows whose key already exists in the partition are dropped before writing, and a file's
  name is derived from its rows, so re-ingesting the same data adds nothing.

Reads go through ``pyarrow.dataset`` and DuckDB scans those datasets, so local folders and
object stores share one code path.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vieweratlas.errors import LakeError
from vieweratlas.lake.schema import PARTITION_SCHEMA, TABLES, TableSpec, sql_type
from vieweratlas.platforms import PLATFORMS

log = logging.getLogger(__name__)

ROW_GROUP_SIZE = 1_000_000


@functools.cache
def file_mode() -> int:
    """Mode for new files: 0o666 less the process umask. Read from /proc where it can be
    (reading it with ``os.umask`` means setting it, briefly, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # pragma: no cover - systems without /proc
    os.umask(mask)
    return 0o666 & ~mask


_HIDDEN_PREFIXES = [".", "_"]


@dataclass(frozen=True)
class WriteResult:
    """What one write added: rows new to the lake, rows skipped as duplicates, files."""

    table: str
    rows_in: int
    rows_written: int
    files: tuple[str, ...] = field(default=())

    @property
    def duplicates(self) -> int:
        return self.rows_in - self.rows_written


def open_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """A lake URL (folder path, ``file://`` or ``s3://bucket/prefix``) → (filesystem, root)."""
    if url.startswith("s3://"):
        from vieweratlas.lake.s3 import open_s3  # the adapter for object stores

        return open_s3(url)
    if "://" in url and not url.startswith("file://"):
        raise LakeError(f"lake {url!r}: unsupported scheme (use a folder path or s3://)")
    path = Path(url.removeprefix("file://")).expanduser().resolve()
    return pafs.LocalFileSystem(), path.as_posix()


class Lake:
    """A lake rooted at ``root`` on ``fs``; see the module docstring for the guarantees."""

    def __init__(self, fs: pafs.FileSystem, root: str, url: str | None = None) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url or root

    @classmethod
    def open(cls, url: str) -> Lake:
        fs, root = open_filesystem(url)
        return cls(fs, root, url)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # ------------------------------------------------------------------ files

    def exists(self, relpath: str) -> bool:
        info = self.fs.get_file_info(self.path(relpath))
        return bool(info.type != pafs.FileType.NotFound)

    def list_files(self, relpath: str, *, suffix: str = "") -> list[str]:
        """Visible files under ``relpath`` (recursive, lake-relative, sorted)."""
        base = self.path(relpath)
        if self.fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True))
        out = []
        for info in infos:
            if info.type != pafs.FileType.File or not info.path.endswith(suffix):
                continue
            rel = posixpath.relpath(info.path, self.root)
            if any(p[:1] in (".", "_") for p in rel.split("/")):
                continue
            out.append(rel)
        return sorted(out)

    def read_bytes(self, relpath: str) -> bytes:
        with self.fs.open_input_stream(self.path(relpath)) as f:
            data: bytes = f.read()
            return data

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write a whole file atomically."""
        with self._atomic(relpath) as out:
            out.write(data)

    def delete(self, relpath: str) -> None:
        self.fs.delete_file(self.path(relpath))

    @contextlib.contextmanager
    def _atomic(self, relpath: str) -> Iterator[Any]:
        """A writable binary stream; the file appears complete at ``relpath`` or not at all."""
        final = self.path(relpath)
        parent = posixpath.dirname(final)
        if self.is_local:
            Path(parent).mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=parent)
            os.fchmod(fd, file_mode())  # mkstemp makes 0600; files should follow umask
            try:
                with os.fdopen(fd, "wb") as f:
                    yield f
                    f.flush()
                    os.fsync(f.fileno())
                Path(tmp).replace(final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    Path(tmp).unlink()
                raise
        else:
            # Object stores: spool to a local temporary file, then send the complete file as
            # one object. A writer that fails half-way uploads nothing, so no partial object
            # is ever visible (and no upload stream is left to be completed by its destructor).
            with tempfile.TemporaryFile(prefix="vieweratlas-upload-") as spool:
                yield spool
                spool.flush()
                spool.seek(0)
                put = getattr(self.fs, "put_object", None)
                if put is not None:  # lake/s3.py: a single PUT, conditional for data files
                    put(final, spool)
                else:  # pragma: no cover - other pyarrow filesystems
                    with self.fs.open_output_stream(final) as out:
                        shutil.copyfileobj(spool, out, 1 << 20)

    # ------------------------------------------------------------------ tables

    def partition_dir(self, spec: TableSpec, platform: str, date: str) -> str:
        return posixpath.join(spec.path, f"platform={platform}", f"date={date}")

    def dataset(
        self,
        table: str,
        *,
        partition: tuple[str, str] | None = None,
        dictionary: Sequence[str] = (),
    ) -> ds.Dataset:
        """The table as an Arrow dataset (empty when nothing was written yet).

        Columns named in ``dictionary`` are read dictionary-encoded straight from Parquet's
        own dictionary pages: no string is built or hashed per row.
        """
        spec = TABLES[table]
        rel = self.partition_dir(spec, *partition) if partition else spec.path
        files = self.list_files(rel, suffix=".parquet")
        schema = spec.full_schema
        for name in dictionary:
            i = schema.get_field_index(name)
            schema = schema.set(i, pa.field(name, pa.dictionary(pa.int32(), pa.string())))
        if not files:
            return ds.dataset(pa.Table.from_batches([], schema))
        options = ds.ParquetReadOptions(dictionary_columns=set(dictionary))
        return ds.dataset(
            [self.path(f) for f in files],
            schema=schema,
            format=ds.ParquetFileFormat(read_options=options),
            filesystem=self.fs,
            partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
            partition_base_dir=self.path(spec.path),
        )

    def read(
        self,
        table: str,
        *,
        columns: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        dictionary: Sequence[str] = (),
        platforms: Sequence[str] = (),
    ) -> pa.Table:
        """Read a table, optionally only ``since <= ts < until`` (partitions pruned by date)
        and only the given ``platforms`` (all when empty)."""
        dataset = self.dataset(table, dictionary=dictionary)
        expr = ds.field("platform").isin(list(platforms)) if platforms else None
        if since is not None:
            e = (ds.field("ts") >= pa.scalar(since, TABLES[table].schema.field("ts").type)) & (
                ds.field("date") >= since.strftime("%Y-%m-%d")
            )
            expr = e if expr is None else expr & e
        if until is not None:
            e = (ds.field("ts") < pa.scalar(until, TABLES[table].schema.field("ts").type)) & (
                ds.field("date") <= until.strftime("%Y-%m-%d")
            )
            expr = e if expr is None else expr & e
        return dataset.to_table(columns=columns, filter=expr)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with every lake table registered as a view of the same name."""
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")  # it draws on stdout, corrupting output
        for name in TABLES:
            con.register(name, self.dataset(name))
        return con

    def sql(self, query: str) -> pa.Table:
        con = self.connect()
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            raise LakeError(f"sql: {str(exc).splitlines()[0]}") from None
        finally:
            con.close()

    def write(self, table: str, data: pa.Table | Iterable[pa.RecordBatch]) -> WriteResult:
        """Add rows to a table: validated, de-duplicated on the key, atomically per file.

        ``data`` has the table's file columns plus ``platform``. Big inputs should be given as
        batches: they are staged in an on-disk DuckDB database, so memory stays bounded.
        """
        spec = TABLES[table]
        with Stage(spec) as stage:
            stage.append(data)
            return stage.commit(self)


class Stage:
    """An on-disk staging area for one write: rows go in batch by batch, then ``commit``.

    Nothing reaches the lake until :meth:`commit`, so an importer that fails half-way through
    its input leaves the lake exactly as it was.
    """

    def __init__(self, spec: TableSpec, *, memory_limit: str = "1GB") -> None:
        self.spec = spec
        self._dir = tempfile.TemporaryDirectory(prefix="vieweratlas-stage-")
        self.con = duckdb.connect(str(Path(self._dir.name) / "stage.duckdb"))
        self.con.execute(f"SET memory_limit='{memory_limit}'")
        self.con.execute("SET TimeZone='UTC'")
        self.con.execute("SET enable_progress_bar=false")
        self.con.execute(f"SET temp_directory='{Path(self._dir.name) / 'spill'}'")
        self.con.execute("SET preserve_insertion_order=false")
        cols = ", ".join(
            f'"{f.name}" {sql_type(f.type, "duckdb")}' for f in [*spec.schema, PARTITION_SCHEMA[0]]
        )
        self.con.execute(f"CREATE TABLE stage ({cols})")
        self.rows = 0

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.close()
        self._dir.cleanup()

    def append(self, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> None:
        if isinstance(data, pa.Table | pa.RecordBatch):
            data = [data] if isinstance(data, pa.RecordBatch) else data.to_batches()
        names = [f.name for f in self.spec.schema] + ["platform"]
        for batch in data:
            if batch.num_rows == 0:
                continue
            missing = [n for n in names if n not in batch.schema.names]
            if missing:
                raise LakeError(f"{self.spec.name}: rows lack column(s) {', '.join(missing)}")
            self.con.register("_batch", batch)
            select = ", ".join(_normalise(self.spec, n) for n in names)
            self.con.execute(f"INSERT INTO stage SELECT {select} FROM _batch")
            self.con.unregister("_batch")
            self.rows += batch.num_rows

    def commit(self, lake: Lake) -> WriteResult:
        """Write staged rows that are new to the lake, one file per touched partition."""
        spec = self.spec
        con = self.con
        nulls = " OR ".join(f'"{c}" IS NULL' for c in (*spec.required, "platform"))
        (bad,) = con.execute(f"SELECT count(*) FROM stage WHERE {nulls}").fetchall()[0]
        if bad:
            raise LakeError(f"{spec.name}: {bad} row(s) with a missing required value")
        parts = con.execute(
            "SELECT DISTINCT platform, strftime(ts, '%Y-%m-%d') AS date FROM stage ORDER BY 1, 2"
        ).fetchall()
        source = "stage"
        if len(parts) > 1:
            # Sorted once, each partition's time range is a run of DuckDB row groups that
            # zone maps find without rescanning the whole stage for every partition.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _sorted AS SELECT * FROM stage ORDER BY platform, ts"
            )
            source = "_sorted"
        key = ", ".join(f'"{k}"' for k in spec.key)
        cols = ", ".join(f'n."{f.name}"' for f in spec.schema)
        order = "messages DESC" if "messages" in spec.schema.names else "ts"
        written = 0
        files: list[str] = []
        for platform, date in parts:
            day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
            rel_dir = lake.partition_dir(spec, platform, date)
            existing = lake.dataset(spec.name, partition=(platform, date))
            con.register("_old", existing)
            where = " AND ".join(f'o."{k}" = n."{k}"' for k in spec.key)
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _new AS
                SELECT {cols} FROM (
                    SELECT * FROM {source}
                    WHERE platform = $platform AND ts >= $start AND ts < $end
                    QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1
                ) n
                WHERE NOT EXISTS (SELECT 1 FROM _old o WHERE {where})
                """,
                {"platform": platform, "start": day, "end": day + timedelta(days=1)},
            )
            con.unregister("_old")
            count, digest, first = con.execute(
                f"SELECT count(*), bit_xor(hash({key})), min(ts) FROM _new"
            ).fetchall()[0]
            if not count:
                continue
            name = f"part-{first:%H%M%S}-{int(digest) & (2**64 - 1):016x}.parquet"
            rel = posixpath.join(rel_dir, name)
            order_by = ", ".join(f'"{c}"' for c in spec.sort)
            reader = con.sql(f"SELECT * FROM _new ORDER BY {order_by}").to_arrow_reader(
                ROW_GROUP_SIZE
            )
            _write_parquet(lake, rel, reader, spec.schema)
            written += int(count)
            files.append(rel)
        log.info("%s: %d rows in, %d new, %d file(s)", spec.name, self.rows, written, len(files))
        return WriteResult(spec.name, self.rows, written, tuple(files))


def _write_parquet(lake: Lake, rel: str, reader: pa.RecordBatchReader, schema: pa.Schema) -> None:
    with (
        lake._atomic(rel) as out,
        pq.ParquetWriter(out, schema, compression="zstd", write_statistics=True) as writer,
    ):
        for batch in reader:
            writer.write_batch(batch.cast(schema), row_group_size=ROW_GROUP_SIZE)


def _normalise(spec: TableSpec, name: str) -> str:
    col = f'"{name}"'
    if name == "platform":
        return f"lower(trim({col}))"
    if name in spec.lower:
        # Names are folded only where the platform ignores case (platforms.py): a YouTube
        # channel id keeps its case, or it would no longer be the id.
        keep = ", ".join(f"'{p.name}'" for p in PLATFORMS.values() if not p.case_insensitive)
        if not keep:
            return f"lower(trim({col}))"
        return (
            f'CASE WHEN lower(trim("platform")) IN ({keep}) THEN trim({col}) '
            f"ELSE lower(trim({col})) END"
        )
    return col
