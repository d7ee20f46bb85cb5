"""Lake health: is it reachable (one cheap call, the container healthcheck), and are its
data files whole (every Parquet footer opened; ``deep``: every row read and every file's
SHA-256 checked against its name)."""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vieweratlas.errors import LakeError
from vieweratlas.lake.files import parse, sha256_stream
from vieweratlas.lake.schema import TABLES
from vieweratlas.lake.store import Lake
from vieweratlas.lake.txn import pending, staging_ids, staging_in_use

log = logging.getLogger(__name__)


def check_lake(lake: Lake) -> str:
    """Raise :class:`LakeError` unless the lake can be used; return a one-line status.

    On S3 the bucket must exist and answer (one HEAD request; no listing of the lake). A
    local lake must be an existing folder or one that can be created (its nearest existing
    parent is a folder).
    """
    if lake.is_local:
        path = lake.root
        while True:
            info = lake.fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                return f"ok: local lake {lake.root}"
            if info.type != pafs.FileType.NotFound:
                raise LakeError(f"lake {lake.url}: {path} is not a folder")
            parent = posixpath.dirname(path)
            if parent == path:
                raise LakeError(f"lake {lake.url}: no existing parent folder")
            path = parent
    bucket = lake.root.split("/", 1)[0]
    try:
        info = lake.fs.get_file_info(bucket)
    except OSError as exc:
        raise LakeError(f"lake {lake.url}: bucket {bucket!r} does not answer ({exc})") from None
    if info.type != pafs.FileType.Directory:
        raise LakeError(f"lake {lake.url}: bucket {bucket!r} not found")
    return f"ok: lake {lake.url}"


@dataclass(frozen=True)
class Damaged:
    """A data file that readers cannot use, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanReport:
    """What ``lake check`` found in the data files."""

    files: int
    damaged: tuple[Damaged, ...]
    pending: int  # commit records not yet applied (a writer died after its commit point)
    stale_staging: int  # staging folders of writers that died before committing

    def line(self) -> str:
        """One line for the terminal (and for the error when something is damaged)."""
        text = f"{self.files} data file(s) checked"
        if self.pending or self.stale_staging:
            text += (
                f"; {self.pending} unfinished commit(s) and {self.stale_staging} abandoned "
                "staging folder(s) (the next write or `lake compact` completes/removes them)"
            )
        if self.damaged:
            first = self.damaged[0]
            text += f"; {len(self.damaged)} damaged: {first.path} ({first.reason})" + (
                f" and {len(self.damaged) - 1} more" if len(self.damaged) > 1 else ""
            )
        return text


def scan_lake(lake: Lake, *, deep: bool = False) -> ScanReport:
    """Open every data file's Parquet footer (``deep``: read every row and check the SHA-256
    its name promises); count unfinished commits and abandoned staging."""
    damaged: list[Damaged] = []
    count = 0
    for spec in TABLES.values():
        for rel in lake.list_files(spec.path, suffix=".parquet"):
            count += 1
            problem = _check_file(lake, rel, deep=deep)
            if problem:
                damaged.append(Damaged(rel, problem))
    stale = sum(1 for txid in staging_ids(lake) if not staging_in_use(lake, txid))
    return ScanReport(count, tuple(damaged), len(pending(lake)), stale)


def _check_file(lake: Lake, rel: str, *, deep: bool) -> str | None:
    try:
        with lake.fs.open_input_file(lake.path(rel)) as f:
            size = f.size()
            if size < 12:
                return f"truncated: {size} bytes"
            f.seek(size - 4)
            if f.read(4) != b"PAR1":
                return "truncated or not Parquet: no footer magic"
            f.seek(0)
            meta = pq.read_metadata(f)
            if deep:
                f.seek(0)
                pq.read_table(f)
        digest = parse(rel).digest
        if deep and digest is not None:
            with lake.fs.open_input_stream(lake.path(rel)) as stream:
                if sha256_stream(stream) != digest:
                    return "content does not match the SHA-256 in its name"
        if meta.num_rows < 0:  # pragma: no cover - defensive
            return "invalid row count"
    except (pa.ArrowException, OSError) as exc:
        return " ".join(str(exc).split())[:160] or type(exc).__name__
    return None
