"""Wiring: lake → aggregate → bots → overlap → communities → labels → layout → outputs.

The stages are pure (``vieweratlas.analysis``); this module does the I/O around them, times
each stage and writes the run outputs of DESIGN.md §2 (to ``out_dir`` and to the lake's
``analysis/<run-id>/``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from vieweratlas import __version__
from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.communities import UNCLUSTERED, attach, detect
from vieweratlas.analysis.labels import label_communities
from vieweratlas.analysis.overlap import Overlap, overlap, select_channels
from vieweratlas.analysis.quality import nmi
from vieweratlas.config import Settings
from vieweratlas.errors import AnalysisError
from vieweratlas.lake import Lake
from vieweratlas.lake.store import new_run_id
from vieweratlas.synth import SynthData

log = logging.getLogger(__name__)

TABLE_FILES = ("nodes.csv", "nodes.parquet", "edges.csv", "edges.parquet", "communities.csv")


@dataclass
class Timings:
    """Seconds per stage, in order; ``progress`` hears each stage's name as it starts."""

    progress: Callable[[str], None] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 4)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    out_dir: Path
    nodes: pa.Table
    edges: pa.Table
    communities: pa.Table
    summary: dict[str, Any]


def analyze(
    lake: Lake,
    settings: Settings,
    out_dir: Path,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the whole analysis over the lake's presence in the configured window."""
    now = now or datetime.now(UTC)
    cfg = settings.analysis
    t = Timings(progress)
    with t.stage("read"):
        presence = lake.read(
            "presence",
            columns=["ts", "channel", "user"],
            since=cfg.since,
            until=cfg.until,
            dictionary=("channel", "user"),
        )
        if presence.num_rows == 0:
            raise AnalysisError(f"lake {lake.url}: no presence rows in the selected window")
        ts_min, ts_max = pc.min_max(presence["ts"]).values()
    with t.stage("aggregate"):
        inc = aggregate(presence)
        del presence
    with t.stage("bots"):
        bots = detect_bots(inc, cfg.bots)
        keep_users = ~bots.removed
        matrix = inc.matrix[keep_users]
    with t.stage("overlap"):
        kept = select_channels(
            matrix, min_viewers=cfg.min_channel_viewers, max_channels=cfg.max_channels
        )
        selected = matrix[:, kept]
        full = overlap(
            selected,
            threshold=cfg.overlap_threshold,
            weight=cfg.weight,
            alpha=cfg.significance,
            max_edges=cfg.max_edges_per_channel * len(kept) or None,
        )
        has_edges = _degree(full) > 0
        connected = np.flatnonzero(has_edges)
        if len(connected) < 2:
            raise AnalysisError(
                f"no two channels share at least {cfg.overlap_threshold} viewers beyond chance "
                "(lower analysis.overlap_threshold / analysis.significance, or widen "
                "--since/--until)"
            )
        del matrix
    with t.stage("communities"):
        part = detect(
            subgraph(full, connected),
            algorithm=cfg.algorithm,
            resolution=cfg.resolution,
            seed=cfg.seed,
            min_size=cfg.min_community_size,
        )
        membership = np.full(full.n, UNCLUSTERED, dtype=np.int32)
        membership[connected] = part.membership
        attached = np.zeros(full.n, dtype=bool)
        if cfg.attach_unclustered:
            membership, attached = attach(selected, membership)
        shown = np.flatnonzero(has_edges | attached)
        graph = subgraph(full, shown)
        membership, attached = membership[shown], attached[shown]
        channel_idx = kept[shown]
        del selected
    with t.stage("labels"):
        names = inc.channels.take(pa.array(channel_idx))
        meta = _channel_metadata(lake, names, until=cfg.until)
        communities = label_communities(
            membership, names, graph.viewers, meta["game"], meta["language"]
        )
    with t.stage("layout"):
        xy = _layout(graph, membership, cfg.seed)
    nodes, edges = _tables(graph, membership, attached, names, meta, communities, xy)
    run_id = new_run_id(now)
    summary = {
        "run_id": run_id,
        "created_at": now.isoformat(),
        "version": __version__,
        "counts": {
            "channels": graph.n,
            "edges": len(graph.src),
            "communities": int((communities["community"].to_numpy() >= 0).sum()),
            "viewers": int(keep_users.sum()),
            "presence_rows": inc.presence_rows,
            "snapshots": inc.windows,
            "channels_seen": len(inc.channels),
            "channels_below_min_viewers_or_over_max": len(inc.channels) - len(kept),
            "channels_without_edges": len(kept) - len(connected),
            "channels_attached": int(attached.sum()),
            "channel_pairs_with_any_overlap": full.pairs_with_any_overlap,
            "overlap_threshold_used": full.threshold,
            "unclustered_channels": int((membership == UNCLUSTERED).sum()),
            "small_communities_merged": part.merged,
        },
        "density": 2 * len(graph.src) / (graph.n * (graph.n - 1)),
        "modularity": part.modularity,
        "algorithm": cfg.algorithm,
        "parameters": {**cfg.model_dump(mode="json"), "preset": settings.preset},
        "window": {"since": ts_min.as_py().isoformat(), "until": ts_max.as_py().isoformat()},
        "bots": bots.as_dict(),
    }
    with t.stage("outputs"):
        written = write_tables(out_dir, nodes, edges, communities)
        _write(out_dir, "bots.csv", _csv_bytes(bots.table))
        written.append("bots.csv")
    with t.stage("render"):
        written += _render(out_dir, nodes, edges, communities, summary)
    with t.stage("copy_to_lake"):
        for name in written:
            lake.write_bytes(f"analysis/{run_id}/{name}", (out_dir / name).read_bytes())
    summary["timings"] = {**t.seconds, "total": round(sum(t.seconds.values()), 4)}
    data = _summary_bytes(summary)
    _write(out_dir, "summary.json", data)
    lake.write_bytes(f"analysis/{run_id}/summary.json", data)
    return RunResult(run_id, out_dir, nodes, edges, communities, summary)


def _degree(graph: Overlap) -> np.ndarray:
    return np.bincount(np.concatenate([graph.src, graph.dst]), minlength=graph.n)


def subgraph(graph: Overlap, keep: np.ndarray) -> Overlap:
    """The graph restricted to nodes ``keep`` (sorted indices), re-indexed 0..len(keep)-1."""
    remap = np.full(graph.n, -1, dtype=np.int32)
    remap[keep] = np.arange(len(keep), dtype=np.int32)
    src, dst = remap[graph.src], remap[graph.dst]
    inside = (src >= 0) & (dst >= 0)
    return Overlap(
        src=src[inside],
        dst=dst[inside],
        shared=graph.shared[inside],
        weight=graph.weight[inside],
        viewers=graph.viewers[keep],
        pairs_with_any_overlap=graph.pairs_with_any_overlap,
        threshold=graph.threshold,
    )


def _channel_metadata(lake: Lake, names: pa.Array, *, until: datetime | None) -> pa.Table:
    """Latest known game, language, title per channel (nulls where unknown), aligned."""
    cols = ["ts", "channel", "game", "language", "title"]
    meta = lake.read("channels", columns=cols, until=until)
    if meta.num_rows:
        meta = meta.filter(pc.is_in(meta["channel"], value_set=names))
        latest = (
            meta.sort_by("ts")
            .group_by("channel", use_threads=False)
            .aggregate([("game", "last"), ("language", "last"), ("title", "last")])
        )
        idx = pc.index_in(names, value_set=latest["channel"])
        return pa.table(
            {
                "game": latest["game_last"].take(idx),
                "language": latest["language_last"].take(idx),
                "title": latest["title_last"].take(idx),
            }
        )
    nulls = pa.nulls(len(names), pa.string())
    return pa.table({"game": nulls, "language": nulls, "title": nulls})


def _layout(graph: Overlap, membership: np.ndarray, seed: int) -> np.ndarray:
    from vieweratlas.render.layout import compute_layout

    return compute_layout(graph.n, graph.src, graph.dst, graph.weight, membership, seed=seed)


def _tables(
    graph: Overlap,
    membership: np.ndarray,
    attached: np.ndarray,
    names: pa.Array,
    meta: pa.Table,
    communities: pa.Table,
    xy: np.ndarray,
) -> tuple[pa.Table, pa.Table]:
    degree = _degree(graph)
    strength = np.bincount(graph.src, weights=graph.weight, minlength=graph.n) + np.bincount(
        graph.dst, weights=graph.weight, minlength=graph.n
    )
    label_of = pc.index_in(pa.array(membership), value_set=communities["community"])
    nodes = pa.table(
        {
            "channel": names,
            "community": pa.array(membership, pa.int32()),
            "label": communities["label"].take(label_of),
            "viewers": pa.array(graph.viewers, pa.int64()),
            "game": meta["game"],
            "language": meta["language"],
            "title": meta["title"],
            "x": pa.array(xy[:, 0], pa.float64()),
            "y": pa.array(xy[:, 1], pa.float64()),
            "degree": pa.array(degree, pa.int32()),
            "strength": pa.array(strength, pa.float64()),
            "attached": pa.array(attached, pa.bool_()),
        }
    )
    order = np.argsort(-graph.weight, kind="stable")
    edges = pa.table(
        {
            "source": names.take(pa.array(graph.src[order])),
            "target": names.take(pa.array(graph.dst[order])),
            "shared": pa.array(graph.shared[order], pa.int64()),
            "weight": pa.array(graph.weight[order], pa.float64()),
        }
    )
    return nodes, edges


def write_tables(
    out_dir: Path, nodes: pa.Table, edges: pa.Table, communities: pa.Table
) -> list[str]:
    """The output tables, each file atomically (temp + rename). Returns the names written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in (("nodes", nodes), ("edges", edges)):
        _write(out_dir, f"{name}.csv", _csv_bytes(table))
        _write(out_dir, f"{name}.parquet", _parquet_bytes(table))
    _write(out_dir, "communities.csv", _csv_bytes(communities))
    return list(TABLE_FILES)


def _render(
    out_dir: Path,
    nodes: pa.Table,
    edges: pa.Table,
    communities: pa.Table,
    summary: dict[str, Any],
) -> list[str]:
    from vieweratlas.render import write_atlas

    seconds = write_atlas(out_dir, nodes, edges, communities, summary)
    summary.setdefault("render", {}).update(seconds)
    return list(seconds)


def _write(out_dir: Path, name: str, data: bytes) -> None:
    Lake.open(str(out_dir)).write_bytes(name, data)


def _csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return bytes(sink.getvalue())


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue())


def _summary_bytes(summary: dict[str, Any]) -> bytes:
    return (json.dumps(summary, indent=2, default=str) + "\n").encode()


def write_synthetic(lake: Lake, data: SynthData) -> dict[str, int]:
    """Write a generated data set and its planted truth (``synthetic/``) into the lake."""
    presence = lake.write("presence", data.presence)
    channels = lake.write("channels", data.channels)
    lake.write_bytes("synthetic/truth.csv", _csv_bytes(data.truth))
    lake.write_bytes("synthetic/manifest.json", data.manifest_json())
    return {"presence_rows": presence.rows_written, "channel_rows": channels.rows_written}


def planted_nmi(lake: Lake, nodes: pa.Table) -> float | None:
    """NMI of a run's communities against the lake's planted truth, if it has one."""
    if not lake.exists("synthetic/truth.csv"):
        return None
    truth = pacsv.read_csv(pa.BufferReader(lake.read_bytes("synthetic/truth.csv")))
    idx = pc.index_in(nodes["channel"], value_set=truth["channel"])
    known = pc.is_valid(idx)
    planted = truth["community"].take(idx.filter(known)).to_numpy()
    found = nodes["community"].filter(known).to_numpy()
    return nmi(planted, found)
