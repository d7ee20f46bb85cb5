"""What an import did besides writing rows: names normalised, files taken as one snapshot,
time columns read under another name, channel metadata that differs from the lake's.

Readers add to an :class:`ImportNotes` while they read (it travels in ``ImportOptions``);
the importer turns it into the ``notices`` of an :class:`ImportResult`, which is the lake's
:class:`~vieweratlas.lake.WriteResult` plus those counts, so nothing is changed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

import pyarrow as pa

from vieweratlas.lake import Lake, WriteResult
from vieweratlas.lake.duck import session


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
            "in the lake (or in this import) but other values; readers keep one of them by a "
            "fixed rule, not by import order. Give corrected metadata a newer ts to replace it."
        )
    base = {f.name: getattr(result, f.name) for f in fields(WriteResult) if f.init}
    return ImportResult(
        **base,
        normalised_rows=normalised,
        snapshot_files=len(notes.snapshots),
        differing_rows=differing_rows,
        notices=tuple(notices),
    )


# Staged channel rows whose (ts, platform, channel) occurs again with other values.
_WITHIN_SQL = """
SELECT coalesce(sum(k - 1), 0) FROM (
    SELECT count(DISTINCT (channel_id, display_name, game, language, viewers, title)) AS k
    FROM stage GROUP BY ts, platform, channel
) WHERE k > 1
"""
# Staged channel rows whose key is already in the lake with other values.
_AGAINST_SQL = """
SELECT count(*) FROM stage n JOIN _lake_channels o
  ON o.ts = n.ts AND o.platform = n.platform AND o.channel = n.channel
WHERE o.date IN (SELECT DISTINCT strftime(ts, '%Y-%m-%d') FROM stage)
  AND (n.channel_id, n.display_name, n.game, n.language, n.viewers, n.title)
      IS DISTINCT FROM (o.channel_id, o.display_name, o.game, o.language, o.viewers, o.title)
"""


def differing_channel_rows(staged: pa.Table, lake: Lake) -> int:
    """Staged channel rows whose key is already in the lake, or twice in the stage, with
    other values: the de-duplication would drop them silently."""
    con = session()
    try:
        con.register("stage", staged)
        row = con.execute(_WITHIN_SQL).fetchall()[0]
        within = int(row[0]) if row else 0
        con.register("_lake_channels", lake.dataset("channels"))
        row = con.execute(_AGAINST_SQL).fetchall()[0]
    finally:
        con.close()
    return within + (int(row[0]) if row else 0)
