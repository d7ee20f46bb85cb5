"""``lake compact``: merge a partition's small or overlapping files into few sorted ones.

Each partition is rewritten through the ordinary writer (:class:`~vieweratlas.lake.writer.Stage`):
its rows are streamed into a stage, each key kept once, sorted, cut into files of up to
:data:`~vieweratlas.lake.writer.TARGET_ROWS` rows, and committed with one record that both
publishes the new files and retires the old ones (:mod:`vieweratlas.lake.txn`). The new
files become visible before any old one goes, so a reader sees the old files, or old and
new together (they overlap in time, so reads de-duplicate them: the same rows), or the new
ones — never a partition with rows missing. A compaction killed half-way is completed by
the next write or compaction. Memory is bounded by two file groups, as for any write.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow.parquet as pq

from vieweratlas.lake.files import DataFile, clusters
from vieweratlas.lake.schema import TABLES
from vieweratlas.lake.store import Lake
from vieweratlas.lake.txn import recover
from vieweratlas.lake.writer import TARGET_ROWS, Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compacted:
    """One partition rewritten: files before and after, rows kept."""

    table: str
    partition: str
    files_before: int
    files_after: int
    rows: int


def needs_compaction(lake: Lake, files: list[DataFile], *, time_keyed: bool) -> bool:
    """True when files overlap (may repeat keys) or two neighbours fit in one file."""
    if len(files) < 2:
        return False
    if any(len(g) > 1 for g in clusters(files, time_keyed=time_keyed)):
        return True
    rows = [_rows(lake, f) for f in sorted(files, key=lambda f: (f.first or "", f.rel))]
    return any(a + b <= TARGET_ROWS for a, b in itertools.pairwise(rows))


def _rows(lake: Lake, f: DataFile) -> int:
    with lake.fs.open_input_file(lake.path(f.rel)) as handle:
        return int(pq.read_metadata(handle).num_rows)


def compact(
    lake: Lake,
    tables: tuple[str, ...] = (),
    *,
    progress: Callable[[Compacted], None] | None = None,
) -> list[Compacted]:
    """Compact every partition that needs it (all tables, or those named)."""
    recover(lake)
    done = []
    for name in tables or tuple(TABLES):
        spec = TABLES[name]
        by_part: dict[str, list[DataFile]] = {}
        for f in lake.data_files(name):
            by_part.setdefault(f.partition, []).append(f)
        for part, files in sorted(by_part.items()):
            if not needs_compaction(lake, files, time_keyed="ts" in spec.key):
                continue
            with Stage(spec) as stage:
                for batch in lake.dataset(name, files=files).to_batches(batch_size=1_000_000):
                    stage.append(batch, source=part)
                result = stage.commit(lake, retire=tuple(f.rel for f in files))
            after = lake.data_files(name)
            item = Compacted(
                name,
                part,
                len(files),
                sum(1 for f in after if f.partition == part),
                result.rows_in,
            )
            log.info("compacted %s: %d → %d file(s)", part, item.files_before, item.files_after)
            done.append(item)
            if progress is not None:
                progress(item)
    return done
