"""What an import did besides writing rows: names normalised, files taken as one snapshot,
time columns read under another name, channel metadata that differs from the lake's.

Readers add to an :class:`ImportNotes` while they read (it travels in ``ImportOptions``);
the importer turns it into the ``notices`` of an :class:`ImportResult`, which is the lake's
:class:`~vieweratlas.lake.WriteResult` plus those counts, so nothing is changed silently.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import TypeAlias

import pyarrow as pa

from vieweratlas.lake import Lake, WriteResult
from vieweratlas.lake.duck import session

Batch: TypeAlias = pa.Table | pa.RecordBatch


@dataclass
class ImportNotes:
    """Collected while files are read (mutable; one per import call)."""

    normalised: dict[str, int] = field(default_factory=dict)  # field → rows
    snapshots: list[tuple[str, datetime, int]] = field(default_factory=list)  # path, ts, rows
    time_columns: list[tuple[str, str]] = field(default_factory=list)  # path, column

    def add_normalised(self, name: str, rows: int) -> None:
        if rows:
            self.normalised[name] = self.normalised.get(name, 0) + rows

    def add_snapshot(self, path: str, ts: datetime, rows: int) -> None:
        for i, (p, t, n) in enumerate(self.snapshots):
            if p == path:
                self.snapshots[i] = (p, t, n + rows)
                return
        self.snapshots.append((path, ts, rows))


@dataclass(frozen=True)
class ImportResult(WriteResult):
    """The lake's write result plus what the import changed or assumed, as counts and lines."""

    normalised_rows: int = 0  # rows whose channel/user name was normalised (``#``, case)
    snapshot_files: int = 0  # files without a time column (each one snapshot)
    differing_rows: int = 0  # channel rows whose (ts, channel) holds other values already
    notices: tuple[str, ...] = ()


def import_result(
    result: WriteResult, notes: ImportNotes, *, differing_rows: int = 0
) -> ImportResult:
    """``result`` with the notes of the import attached."""
    notices: list[str] = []
    for path, column in notes.time_columns:
        notices.append(f"{path}: column {column!r} read as the time (ts)")
    for path, ts, rows in notes.snapshots:
        notices.append(
            f"{path}: no time column, so its {rows:,} row(s) are one snapshot at "
            f"{ts.isoformat().replace('+00:00', 'Z')} (set it with --snapshot-time)"
        )
    normalised = sum(notes.normalised.values())
    if normalised:
        detail = ", ".join(f"{n:,} {name}" for name, n in sorted(notes.normalised.items()))
        notices.append(
            f"{normalised:,} name(s) normalised to the platform's form "
            f"(leading '#' removed, lower-cased): {detail}"
        )
    if differing_rows:
        notices.append(
            f"{differing_rows:,} channel row(s) have the same time and channel as rows already "
            "in the lake (or in this import) but other values; one value per time and channel "
            "is kept, by a fixed rule, not by import order: give corrected metadata a newer ts"
        )
    base = {f.name: getattr(result, f.name) for f in fields(WriteResult) if f.init}
    return ImportResult(
        **base,
        normalised_rows=normalised,
        snapshot_files=len(notes.snapshots),
        differing_rows=differing_rows,
        notices=tuple(notices),
    )


# Imported channel rows whose (ts, platform, channel) occurs again with other values.
_WITHIN_SQL = """
SELECT coalesce(sum(k - 1), 0) FROM (
    SELECT count(DISTINCT (channel_id, display_name, game, language, viewers, title)) AS k
    FROM staged GROUP BY ts, platform, channel
) WHERE k > 1
"""
# Imported channel rows whose key is already in the lake with other values.
_AGAINST_SQL = """
SELECT count(*) FROM staged n JOIN _lake o
  ON o.ts = n.ts AND o.platform = n.platform AND o.channel = n.channel
WHERE (n.channel_id, n.display_name, n.game, n.language, n.viewers, n.title)
      IS DISTINCT FROM (o.channel_id, o.display_name, o.game, o.language, o.viewers, o.title)
"""


class ChannelCheck:
    """Keeps a copy of imported channel rows (in a private on-disk DuckDB database) to count,
    before the commit, rows whose (ts, channel) already holds other values."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vieweratlas-channels-")
        self.con = session(
            f"{self._dir.name}/check.duckdb",
            memory_limit="256MB",
            spill_dir=f"{self._dir.name}/spill",
        )
        self._rows = 0

    def watch(self, rows: Callable[[], Iterable[Batch]]) -> Callable[[], Iterator[Batch]]:
        """``rows`` with every batch also copied here."""

        def tee() -> Iterator[Batch]:
            for batch in rows():
                if batch.num_rows:
                    self._keep(batch)
                yield batch

        return tee

    def _keep(self, batch: Batch) -> None:
        self.con.register("_batch", batch)
        select = (
            "SELECT ts, lower(trim(platform)) AS platform, lower(trim(channel)) AS channel, "
            "channel_id, display_name, game, language, viewers, title FROM _batch"
        )
        if self._rows:
            self.con.execute(f"INSERT INTO staged {select}")
        else:
            self.con.execute(f"CREATE TABLE staged AS {select}")
        self.con.unregister("_batch")
        self._rows += batch.num_rows

    def differing(self, lake: Lake) -> int:
        """Rows that repeat a key of this import, or of the lake, with other values."""
        if not self._rows:
            return 0
        within = int(self.con.execute(_WITHIN_SQL).fetchall()[0][0])
        lo, hi = self.con.execute("SELECT min(ts), max(ts) FROM staged").fetchall()[0]
        old = lake.read("channels", since=lo, until=hi + timedelta(microseconds=1))
        self.con.register("_lake", old)
        try:
            against = int(self.con.execute(_AGAINST_SQL).fetchall()[0][0])
        finally:
            self.con.unregister("_lake")
        return within + against

    def close(self) -> None:
        self.con.close()
        self._dir.cleanup()
