"""The lake: Hive-partitioned Parquet on a local folder (or any ``pyarrow.fs`` filesystem).

* **Atomic**: every file is written completely under a hidden name and renamed (on object
  stores: sent as one PUT), so readers never see half a file; a write's new data files
  become visible together through a commit record (:mod:`vieweratlas.lake.txn`).
* **Appends cost what they add**: a write never reads the partition it adds to
  (:mod:`vieweratlas.lake.writer`); data files are named by their time range and the
  SHA-256 of their bytes, so names never collide and re-writing the same rows is a no-op.
* **No duplicate reaches a reader**: files of a partition whose time ranges overlap may
  share keys (two writers, an overlapping import); :meth:`Lake.read` and :meth:`Lake.sql`
  keep one row per key there (:mod:`vieweratlas.lake.files`), and ``lake compact`` merges
  them for good.

Reads go through ``pyarrow.dataset`` and DuckDB scans those datasets, so local folders and
object stores share one code path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from vieweratlas.errors import LakeError, first_line
from vieweratlas.fileio import atomic_file
from vieweratlas.lake.duck import session
from vieweratlas.lake.files import DataFile, clusters, parse
from vieweratlas.lake.schema import PARTITION_SCHEMA, TABLES, TableSpec
from vieweratlas.lake.writer import Stage, WriteResult, distinct_sql

log = logging.getLogger(__name__)


_HIDDEN_PREFIXES = [".", "_"]


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
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
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
        try:
            with self.fs.open_input_stream(self.path(relpath)) as f:
                data: bytes = f.read()
                return data
        except OSError as exc:
            if is_not_found(exc):  # S3 says so only when the first byte is read
                raise FileNotFoundError(relpath) from None
            raise

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
        if self.is_local:
            with atomic_file(Path(final)) as out:
                yield out
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

    def list_all(self, relpath: str) -> list[str]:
        """Every file under ``relpath``, hidden ones included (lake-relative, sorted)."""
        base = self.path(relpath)
        # One listing that tolerates the folder vanishing meanwhile (its last file removed
        # by another process: on S3 a prefix exists only while it holds an object).
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(
            posixpath.relpath(i.path, self.root) for i in infos if i.type == pafs.FileType.File
        )

    def put_file(self, relpath: str, local: Path) -> None:
        """Copy a complete local file to ``relpath`` (atomically, like :meth:`write_bytes`)."""
        with self._atomic(relpath) as out, local.open("rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)

    def link_if_absent(self, src: str, dst: str) -> bool | None:
        """Make ``dst`` a copy of ``src`` unless ``dst`` exists: True created, False exists,
        None when ``src`` is gone. Never replaces ``dst`` (a hard link locally, a conditional
        ``CopyObject`` on S3)."""
        if self.is_local:
            Path(self.path(dst)).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.path(src), self.path(dst))
            except FileExistsError:
                return False
            except FileNotFoundError:
                return None
            return True
        copy = getattr(self.fs, "copy_if_absent", None)
        if copy is None:  # pragma: no cover - other pyarrow filesystems
            raise LakeError(f"lake {self.url}: this filesystem cannot publish files safely")
        created: bool | None = copy(self.path(src), self.path(dst))
        return created

    # ------------------------------------------------------------------ tables

    def partition_dir(self, spec: TableSpec, platform: str, date: str) -> str:
        return posixpath.join(spec.path, f"platform={platform}", f"date={date}")

    def data_files(
        self, table: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[DataFile]:
        """The table's visible data files, only partitions that can hold ``since..until``."""
        spec = TABLES[table]
        out = []
        lo = since.strftime("%Y-%m-%d") if since else None
        hi = until.strftime("%Y-%m-%d") if until else None
        for rel in self.list_files(spec.path, suffix=".parquet"):
            f = parse(rel)
            date = f.partition.rsplit("date=", 1)[-1] if "date=" in f.partition else None
            if date is not None and ((lo and date < lo) or (hi and date > hi)):
                continue
            out.append(f)
        return out

    def dataset(
        self,
        table: str,
        *,
        files: Sequence[DataFile] | None = None,
        dictionary: Sequence[str] = (),
    ) -> ds.Dataset:
        """The raw files of a table as an Arrow dataset (empty when there are none).

        Raw means files that overlap in time may repeat a key: :meth:`read` and :meth:`sql`
        de-duplicate, this does not. Columns named in ``dictionary`` are read
        dictionary-encoded straight from Parquet's own dictionary pages.
        """
        spec = TABLES[table]
        rels = [f.rel for f in (self.data_files(table) if files is None else files)]
        schema = spec.full_schema
        for name in dictionary:
            i = schema.get_field_index(name)
            schema = schema.set(i, pa.field(name, pa.dictionary(pa.int32(), pa.string())))
        if not rels:
            return ds.dataset(pa.Table.from_batches([], schema))
        options = ds.ParquetReadOptions(dictionary_columns=set(dictionary))
        return ds.dataset(
            [self.path(f) for f in rels],
            schema=schema,
            format=ds.ParquetFileFormat(read_options=options),
            filesystem=self.fs,
            partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
            partition_base_dir=self.path(spec.path),
        )

    def split(
        self,
        table: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        platforms: Sequence[str] = (),
    ) -> tuple[list[DataFile], list[DataFile]]:
        """(files read as they are, files that may share keys and are de-duplicated)."""
        spec = TABLES[table]
        files = self.data_files(table, since=since, until=until)
        if platforms:
            wanted = {f"platform={p}" for p in platforms}
            files = [f for f in files if wanted & set(f.partition.split("/"))]
        groups = clusters(files, time_keyed="ts" in spec.key)
        clean = [g[0] for g in groups if len(g) == 1]
        overlapping = [f for g in groups if len(g) > 1 for f in g]
        return clean, overlapping

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
        """Read a table, one row per key, optionally only ``since <= ts < until`` and only
        the given ``platforms`` (all when empty).

        Files that cannot share a key are read as they are (dictionary columns straight from
        Parquet); only files overlapping in time go through a de-duplicating DuckDB query.
        A file retired by a concurrent ``lake compact`` while listed is retried with a
        fresh listing.
        """
        for attempt in range(5):
            try:
                return self._read(table, columns, since, until, dictionary, platforms)
            except (pa.ArrowException, OSError, duckdb.Error) as exc:
                if is_not_found(exc) and attempt < 4:
                    log.info("%s: a file went away while reading (compaction); again", table)
                    continue
                msg = first_line(exc)
                raise LakeError(
                    f"lake {self.url}: cannot read {table} ({msg}); `vieweratlas lake check` "
                    "names damaged files"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(
        self,
        table: str,
        columns: list[str] | None,
        since: datetime | None,
        until: datetime | None,
        dictionary: Sequence[str],
        platforms: Sequence[str],
    ) -> pa.Table:
        spec = TABLES[table]
        clean, overlapping = self.split(table, since=since, until=until, platforms=platforms)
        expr = _time_filter(spec, since, until)
        out = self.dataset(table, files=clean, dictionary=dictionary).to_table(
            columns=columns, filter=expr
        )
        if not overlapping:
            return out
        wanted = columns or spec.full_schema.names
        con = _duckdb()
        try:
            con.register("_rows", self.dataset(table, files=overlapping))
            where = []
            params: dict[str, Any] = {}
            if since is not None:
                where.append("ts >= $since")
                params["since"] = since
            if until is not None:
                where.append("ts < $until")
                params["until"] = until
            relation = "_rows"
            if where:
                relation = f"(SELECT * FROM _rows WHERE {' AND '.join(where)})"
            sql = distinct_sql(spec, relation, columns=list(wanted))
            extra: pa.Table = con.sql(sql, params=params).to_arrow_table()
        finally:
            con.close()
        log.info(
            "%s: %d row(s) from %d overlapping file(s) de-duplicated",
            table,
            extra.num_rows,
            len(overlapping),
        )
        fixed = []
        for f in out.schema:
            col = extra.column(f.name)
            if pa.types.is_dictionary(f.type):
                col = pc.dictionary_encode(col.cast(f.type.value_type))
            fixed.append(col.cast(f.type))
        return pa.concat_tables([out, pa.Table.from_arrays(fixed, schema=out.schema)])

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with every lake table as a view of the same name.

        Each view is the files read as they are plus the overlapping ones de-duplicated,
        so SQL sees one row per key like :meth:`read`.
        """
        con = _duckdb()
        for name, spec in TABLES.items():
            clean, overlapping = self.split(name)
            con.register(f"_{name}_files", self.dataset(name, files=clean))
            if not overlapping:
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}_files"')
                continue
            con.register(f"_{name}_overlapping", self.dataset(name, files=overlapping))
            cols = spec.full_schema.names
            dedup = distinct_sql(spec, f'"_{name}_overlapping"', columns=cols)
            con.execute(
                f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}_files" UNION ALL BY NAME ({dedup})'
            )
        return con

    def sql(self, query: str) -> pa.Table:
        con = self.connect()
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            raise LakeError(f"sql: {first_line(exc)}") from None
        finally:
            con.close()

    def write(self, table: str, data: pa.Table | Iterable[pa.RecordBatch]) -> WriteResult:
        """Add rows to a table: validated, one row per key, all new files visible together.

        ``data`` has the table's file columns plus ``platform``. Big inputs should be given as
        batches: they are spilled to local disk, so memory stays bounded.
        """
        spec = TABLES[table]
        with Stage(spec) as stage:
            stage.append(data)
            return stage.commit(self)


def is_not_found(exc: BaseException) -> bool:
    """A missing file, however the filesystem says it (S3 reports it on the first read)."""
    text = str(exc).lower()  # S3 says NO_SUCH_KEY, NoSuchKey or RESOURCE_NOT_FOUND
    return isinstance(exc, FileNotFoundError) or any(
        marker in text for marker in ("no_such_key", "nosuchkey", "no such file", "not found",
                                      "not_found")
    )  # fmt: skip


def _duckdb() -> duckdb.DuckDBPyConnection:
    return session()


def _time_filter(spec: TableSpec, since: datetime | None, until: datetime | None) -> Any:
    ts_type = spec.schema.field("ts").type
    expr = None
    if since is not None:
        expr = ds.field("ts") >= pa.scalar(since, ts_type)
    if until is not None:
        e = ds.field("ts") < pa.scalar(until, ts_type)
        expr = e if expr is None else expr & e
    return expr
