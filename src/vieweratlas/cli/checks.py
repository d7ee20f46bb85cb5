"""Checks a command makes before it starts working: where it writes, what it reads.

Everything here runs before any data is read or written, so a wrong ``--out`` or ``--lake``
costs a one-line error (exit 2) instead of a finished analysis thrown away, and a window
that cannot select anything says what the lake holds.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vieweratlas.config import Settings
from vieweratlas.errors import AnalysisError, ConfigError, LakeError
from vieweratlas.lake import Lake
from vieweratlas.lake.health import check_lake
from vieweratlas.lake.inventory import (
    TableInventory,
    describe_table,
    lake_exists,
    partition_day,
    partition_platform,
    table_files,
)

DEFAULT_LAKE = "./atlas-data"
DEMO_OUT = Path("atlas-demo")
DEMO_MARKER = Path("lake") / "synthetic" / "manifest.json"
# What a demo writes into its folder besides the lake (the run's lake copy lists the rest).
DEMO_OUTPUTS = (
    "nodes.csv", "nodes.parquet", "edges.csv", "edges.parquet", "communities.csv",
    "communities.parquet",
    "memberships.csv", "similar.parquet", "summary.json", "bots.csv", "atlas.png",
    "atlas.svg", "atlas.pdf", "atlas.html", "graph.gexf", "graph.json",
)  # fmt: skip


def fmt_time(t: datetime) -> str:
    """A UTC time as printed in windows and errors: ``2026-11-01T00:00:00Z``."""
    return f"{t:%Y-%m-%dT%H:%M:%S}Z"


def holds(t: TableInventory) -> str:
    """``presence from A to B`` — what a table holds, for messages."""
    if t.first is None or t.last is None:
        return f"{t.name} without readable times"
    return f"{t.name} from {fmt_time(t.first)} to {fmt_time(t.last)}"


def _span(a: TableInventory, b: TableInventory) -> TableInventory:
    """The time range from ``a``'s first to ``b``'s last (the lake's edge days)."""
    return TableInventory(
        a.name, a.files + b.files, a.rows + b.rows, a.bytes + b.bytes, a.first, b.last,
        tuple(sorted({*a.platforms, *b.platforms})), a.unreadable + b.unreadable,
    )  # fmt: skip


# ---------------------------------------------------------------------------- where we write


def writable_lake(lake: Lake) -> None:
    """A lake that import/synth/collect can write: a folder (or a folder can be made there)."""
    check_lake(lake)


def out_dir(out: Path, lake: Lake, *, option: str = "--out") -> Path:
    """``out`` is (or can become) a folder outside the lake; returns it as given."""
    path = out.expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {out}: is not a folder")
    probe = path.resolve()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{option} {out}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {out}: {probe} is not writable")
    if lake.is_local:
        root = Path(lake.root)
        resolved = path.resolve()
        if resolved == root or root in resolved.parents:
            raise ConfigError(
                f"{option} {out}: is inside the lake {lake.url}; run outputs go to a folder "
                "outside it (the lake keeps its own copy under analysis/<run-id>/)"
            )
    return out


def demo_folder(out: Path) -> bool:
    """Make ``out`` ready for a fresh demo; True when a previous demo was cleared.

    A new or empty folder is used as is. A previous demo (its ``lake/synthetic/manifest.json``)
    is cleared — its lake and the run outputs it wrote — so two generated worlds never mix.
    Any other non-empty folder is refused: it is not ours to clear.
    """
    path = out.expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out}: is not a folder")
    if not path.exists() or not any(path.iterdir()):
        return False
    if not (path / DEMO_MARKER).is_file():
        raise ConfigError(
            f"--out {out}: the folder is not empty and holds no previous demo; "
            "choose a new or empty folder"
        )
    names = set(DEMO_OUTPUTS)
    analysis = path / "lake" / "analysis"
    if analysis.is_dir():
        names |= {f.name for run in analysis.iterdir() if run.is_dir() for f in run.iterdir()}
    for name in sorted(names):
        target = path / name
        if target.is_file() or target.is_symlink():
            target.unlink()
    shutil.rmtree(path / "lake")
    return True


# ---------------------------------------------------------------------------- what we read


def _missing_hint(settings: Settings) -> str:
    if settings.lake == DEFAULT_LAKE and (DEMO_OUT / DEMO_MARKER).is_file():
        return f"; the demo's lake is {DEMO_OUT / 'lake'} (add --lake {DEMO_OUT / 'lake'})"
    return ""


def existing_lake(settings: Settings) -> Lake:
    """The lake of ``settings``; ``LakeError`` when its folder does not exist."""
    lake = Lake.open(settings.lake)
    if lake.is_local and not lake_exists(lake):
        if Path(lake.root).exists():
            raise LakeError(f"lake {lake.url}: is not a folder")
        raise LakeError(f"lake {lake.url} does not exist{_missing_hint(settings)}")
    return lake


@dataclass(frozen=True)
class Window:
    """The analysis window as asked (``None``: open) and the presence it selects."""

    since: datetime | None
    until: datetime | None  # exclusive
    presence: TableInventory  # presence in the window's date partitions

    def describe(self) -> str:
        if self.since is None and self.until is None:
            return "[all data]"
        lo = fmt_time(self.since) if self.since else "open"
        hi = fmt_time(self.until) if self.until else "open"
        return f"[{lo}, {hi})"


def analysis_window(lake: Lake, settings: Settings) -> Window:
    """Check that the lake has presence in the asked window, before any analysis runs.

    A bare date is midnight UTC and ``until`` is exclusive, so ``--since D --until D`` is
    empty: that, an inverted window, a window outside the data and an empty lake are all
    errors that say what range the lake holds. Unreadable Parquet files in the window are
    named here instead of failing half-way through the analysis.
    """
    since, until = settings.analysis.since, settings.analysis.until
    files = table_files(lake, "presence")
    if not files:
        raise AnalysisError(
            f"lake {lake.url} is empty: no presence rows (import or collect some first)"
            + _missing_hint(settings)
        )
    wanted = tuple(settings.analysis.platforms or ())
    if wanted:
        held = sorted({p for p in map(partition_platform, files) if p is not None})
        files = [f for f in files if partition_platform(f) in wanted]
        if not files:
            raise AnalysisError(
                f"--platforms {','.join(wanted)}: the lake {lake.url} has no presence there "
                f"(it holds {', '.join(held) or 'none'})"
            )
    # What the lake holds, for messages: the footers of its first and last day only.
    days = sorted({d for d in map(partition_day, files) if d is not None})
    everything = (
        _span(describe_table(lake, "presence", first_day=days[0], last_day=days[0], files=files),
              describe_table(lake, "presence", first_day=days[-1], last_day=days[-1], files=files))
        if days
        else describe_table(lake, "presence", files=files)
    )  # fmt: skip
    if since is not None and until is not None and until <= since:
        kind = "empty" if until == since else "inverted"
        raise AnalysisError(
            f"window [{fmt_time(since)}, {fmt_time(until)}) is {kind}: --until is exclusive and "
            f"must be after --since (a bare date is midnight UTC); the lake holds "
            f"{holds(everything)}"
        )
    first_day = since.date() if since else None
    last_day = until.date() if until else None
    window = describe_table(lake, "presence", first_day=first_day, last_day=last_day, files=files)
    if window.unreadable:
        raise LakeError(
            f"lake {lake.url}: {window.unreadable[0]} is not a readable Parquet file "
            f"(truncated or damaged; {len(window.unreadable)} such file(s) in the window — "
            "see vieweratlas lake check)"
        )
    asked = Window(since, until, window)
    outside = (
        window.rows == 0
        or window.first is None
        or window.last is None
        or (since is not None and window.last < since)
        or (until is not None and window.first >= until)
    )
    if outside:
        raise AnalysisError(
            f"window {asked.describe()} selects no presence; the lake holds {holds(everything)}"
        )
    return asked
