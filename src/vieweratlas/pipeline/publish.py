"""Step three: publish a run — tables, pictures, summary — into ``--out`` and the lake.

All-or-nothing. Every file is first written into a hidden staging folder inside ``--out``;
then the files are copied into the lake's ``analysis/<run-id>/`` and the run's index entry
(``runs/<run-id>.json``) is written last; only then are the staged files moved into
``--out``. A failure at any point (a missing web asset, a full disk, an unreachable bucket)
removes what this run staged or uploaded and leaves ``--out`` and the lake as they were.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vieweratlas import __version__
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.config import Settings
from vieweratlas.csvsafe import safe_csv_bytes
from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake
from vieweratlas.pipeline.communities import RunTables, drawn
from vieweratlas.pipeline.similar import run_similar
from vieweratlas.runs import ANALYSIS_DIR, RUNS_DIR, RunInfo, new_run_id
from vieweratlas.timings import Timings

log = logging.getLogger(__name__)

TABLE_FILES = (
    "nodes.csv",
    "nodes.parquet",
    "edges.csv",
    "edges.parquet",
    "communities.csv",
    "communities.parquet",
    "memberships.csv",
    "memberships.parquet",
    "unplaced.csv",
    "bots.csv",
    "similar.parquet",
)
# Pictures and exports: large, and rebuilt from the tables by `analyze` at any time.
PICTURES = frozenset(
    {"atlas.png", "atlas.svg", "atlas.pdf", "atlas.html", "graph.gexf", "graph.json"}
)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    out_dir: Path
    nodes: pa.Table
    edges: pa.Table
    communities: pa.Table
    summary: dict[str, Any]


def summarize(
    settings: Settings, graph: ChannelGraph, tables: RunTables, run_id: str, now: datetime
) -> dict[str, Any]:
    """The run's ``summary.json`` (timings are added when publishing ends)."""
    cfg = settings.analysis
    stats = graph.stats
    n = tables.graph.n
    counts = {
        **tables.counts,
        "viewers": stats.users_kept,
        "presence_rows": stats.presence_rows,
        "snapshots": stats.snapshots,
        "channels_seen": stats.channels_seen,
        "channels_below_min_viewers_or_over_max": stats.channels_seen - stats.channels_eligible,
        "channel_pairs_with_any_overlap": stats.pairs_with_any_overlap,
        "overlap_threshold_used": stats.threshold_used,
    }
    drawn_n = len(drawn(tables, cfg.max_channels))
    counts["channels_drawn"] = drawn_n
    return {
        "run_id": run_id,
        "created_at": now.isoformat(),
        "version": __version__,
        "index": f"{RUNS_DIR}/{run_id}.json",
        "platforms": graph.platforms,
        "engine": cfg.engine,
        "counts": counts,
        "density": 2 * counts["edges"] / (n * (n - 1)) if n > 1 else 0.0,
        "modularity": tables.modularity,
        "algorithm": cfg.algorithm,
        "parameters": {**cfg.model_dump(mode="json"), "preset": settings.preset},
        "window": {
            "since": stats.window_start.isoformat(),
            "until": stats.window_end.isoformat(),
        },
        "drawn": {
            "channels": drawn_n,
            "of": n,
            "note": (
                f"the maps draw the {drawn_n:,} most-watched of {n:,} channels "
                "(analysis.max_channels); the tables hold all of them"
                if drawn_n < n
                else f"the maps draw all {n:,} channels"
            ),
        },
        "unplaced": _unplaced_summary(tables),
        "communities_timings": tables.seconds,
        "bots": {
            "removed": graph.bots.num_rows,
            "by_reason": graph.bot_reasons,
            "examples": graph.bot_examples,
        },
    }


def publish(
    lake: Lake,
    settings: Settings,
    graph: ChannelGraph,
    tables: RunTables,
    out_dir: Path,
    *,
    render: bool = True,
    now: datetime | None = None,
    timings: Timings | None = None,
) -> RunResult:
    """Write the run into ``out_dir`` and the lake, all or nothing (module docstring)."""
    now = now or datetime.now(UTC)
    timings = timings or Timings()
    stats = graph.stats
    run_id = new_run_id(stats.window_start, stats.window_end, now)
    summary = summarize(settings, graph, tables, run_id, now)
    out_dir = Path(out_dir)
    created_out = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    uploaded: list[str] = []
    try:
        with timings.stage("outputs"):
            _write_tables(staging, tables, graph.bots)
        with timings.stage("similar"):
            similar = run_similar(graph, settings.analysis.similar_top)
            pq.write_table(similar, staging / "similar.parquet", compression="zstd")
        if render:
            with timings.stage("render"):
                _render(staging, tables, summary, settings.analysis.max_channels)
        names = sorted(p.name for p in staging.iterdir())
        kept = lake_files(names, settings.analysis.lake_copy)
        summary["timings"] = timings.total()
        summary["files"] = [*kept, "summary.json"]  # the lake's copy
        summary["outputs"] = [*names, "summary.json"]  # everything in --out
        (staging / "summary.json").write_bytes(_json_bytes(summary))
        with timings.stage("copy_to_lake"):
            for name in [*kept, "summary.json"]:
                rel = f"{ANALYSIS_DIR}/{run_id}/{name}"
                lake.write_bytes(rel, (staging / name).read_bytes())
                uploaded.append(rel)
            info = RunInfo.from_summary(summary, files=tuple(summary["files"]))
            index = f"{RUNS_DIR}/{run_id}.json"
            lake.write_bytes(index, info.to_json())
            uploaded.append(index)
        stale = _previous_run_files(out_dir) - {*names, "summary.json"}
        for name in [*names, "summary.json"]:
            (staging / name).replace(out_dir / name)
        for name in stale:  # a previous run's file this run did not write (e.g. its map)
            (out_dir / name).unlink(missing_ok=True)
    except BaseException:
        _undo(lake, uploaded)
        shutil.rmtree(staging, ignore_errors=True)
        if created_out:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    summary["timings"] = timings.total()  # now including the lake copy (out_dir's copy
    # was written before it; the lake's summary.json holds the same numbers minus that)
    return RunResult(run_id, out_dir, tables.nodes, tables.edges, tables.communities, summary)


def lake_files(names: list[str], mode: str) -> list[str]:
    """Which of a run's files its lake copy keeps (``analysis.lake_copy``): ``all``; ``map``:
    the tables and the interactive map (what the dashboard shows); ``tables``: tables only.
    With ``map`` and ``tables`` a table written both ways is kept once, as compressed
    Parquet (``Run.table`` and the dashboard's CSV downloads read it; at 100,000 channels
    ``edges.csv`` alone is 5× its Parquet). ``--out`` always gets every file."""
    if mode == "all":
        return names
    keep_map = mode == "map"
    parquet = {n.removesuffix(".parquet") for n in names if n.endswith(".parquet")}
    return [
        n
        for n in names
        if (n not in PICTURES or (keep_map and n == "atlas.html"))
        and not (n.endswith(".csv") and n.removesuffix(".csv") in parquet)
    ]


def _previous_run_files(out_dir: Path) -> set[str]:
    """Files the run previously published into ``out_dir`` wrote, from its summary (plain
    names only: a hostile summary cannot point outside the folder)."""
    try:
        previous = json.loads((out_dir / "summary.json").read_text())
        files = previous.get("outputs", previous.get("files", []))
    except (OSError, ValueError, AttributeError):
        return set()
    return {
        f
        for f in files
        if isinstance(f, str) and f == Path(f).name and not f.startswith(".") and f != ".."
    }


def _undo(lake: Lake, uploaded: list[str]) -> None:
    for rel in reversed(uploaded):
        try:
            lake.delete(rel)
        except (OSError, LakeError) as exc:  # best effort: unindexed files are never listed
            log.warning("could not remove %s after a failed publish: %s", rel, exc)


def _unplaced_summary(tables: RunTables, examples: int = 20) -> dict[str, Any]:
    """Unplaced channels by reason, with the most-watched few of each."""
    out: dict[str, Any] = {}
    table = tables.unplaced
    if table is None or table.num_rows == 0:
        return out
    table = table.sort_by([("viewers", "descending"), ("channel", "ascending")])
    for reason in sorted(set(table["reason"].to_pylist())):
        rows = table.filter(pc.equal(table["reason"], reason))
        out[reason] = {
            "channels": rows.num_rows,
            "examples": rows["channel"].slice(0, examples).to_pylist(),
        }
    return out


def _write_tables(folder: Path, tables: RunTables, bots: pa.Table) -> None:
    for name, table in (
        ("nodes", tables.nodes),
        ("edges", tables.edges),
        ("communities", tables.communities),
        ("memberships", tables.memberships),
    ):
        if table is None:
            continue
        (folder / f"{name}.csv").write_bytes(safe_csv_bytes(table))
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
    if tables.unplaced is not None:
        (folder / "unplaced.csv").write_bytes(safe_csv_bytes(tables.unplaced))
    (folder / "bots.csv").write_bytes(safe_csv_bytes(bots))


def _render(folder: Path, tables: RunTables, summary: dict[str, Any], limit: int) -> None:
    from vieweratlas.render import write_atlas  # matplotlib & co. only when drawing

    nodes, edges = tables.nodes, tables.edges
    keep = drawn(tables, limit)
    if len(keep) < nodes.num_rows:  # draw the biggest; the tables keep everything
        nodes = nodes.take(pa.array(keep, pa.int64()))
        edges = edges.filter(
            pc.and_(
                pc.is_in(edges["source"], value_set=nodes["channel"]),
                pc.is_in(edges["target"], value_set=nodes["channel"]),
            )
        )
    top_level = pc.equal(tables.communities["level"], 1)
    communities = tables.communities.filter(top_level)
    seconds = write_atlas(folder, nodes, edges, communities, summary)
    summary.setdefault("render", {}).update(seconds)


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, default=str) + "\n").encode()
