"""The analysis in three steps with seams between them.

1. :func:`build_graph` — presence in the lake → a
   :class:`~vieweratlas.analysis.graph.ChannelGraph`, by an engine (``local`` or ``spark``);
2. :func:`find_communities` — graph → communities and the run's tables (pure);
3. :func:`publish` — tables, pictures and summary into ``--out`` and the lake, all or
   nothing.

:func:`analyze` runs the three in a row (plus the channels' metadata and the layout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.creators import merge_creators
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.config import Settings
from vieweratlas.engines import get_engine
from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake
from vieweratlas.pipeline.communities import (
    RunTables,
    drawn,
    empty_metadata,
    find_communities,
    with_positions,
)
from vieweratlas.pipeline.community_viewers import fill_community_viewers
from vieweratlas.pipeline.publish import TABLE_FILES, RunResult, publish
from vieweratlas.pipeline.synthetic import planted_nmi, write_synthetic, write_synthetic_stream
from vieweratlas.timings import Timings

log = logging.getLogger(__name__)

__all__ = [
    "TABLE_FILES",
    "RunResult",
    "RunTables",
    "analyze",
    "build_graph",
    "channel_metadata",
    "drawn",
    "fill_community_viewers",
    "find_communities",
    "lay_out",
    "planted_nmi",
    "publish",
    "write_synthetic",
    "write_synthetic_stream",
]


def build_graph(
    lake: Lake, settings: Settings, *, timings: Timings | None = None, engine: str | None = None
) -> ChannelGraph:
    """Step one: the channel graph of the configured window, by ``engine`` (default: the
    ``analysis.engine`` setting), with the channels of one creator merged into one node
    where the lake has a creator map (``import creators``)."""
    graph = get_engine(engine or settings.analysis.engine).build(
        lake, settings, timings or Timings()
    )
    creators = lake.read("creators", columns=["creator", "platform", "channel"])
    if creators.num_rows:
        graph = merge_creators(graph, creators, weight=settings.analysis.weight)
    return graph


def analyze(
    lake: Lake,
    settings: Settings,
    out_dir: Path,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    render: bool = True,
) -> RunResult:
    """The whole analysis of the lake's presence in the configured window."""
    now = now or datetime.now(UTC)
    timings = Timings(progress)
    graph = build_graph(lake, settings, timings=timings)
    with timings.stage("communities"):
        meta = channel_metadata(lake, graph, until=settings.analysis.until)
        tables = fill_community_viewers(find_communities(graph, settings.analysis, meta))
    if render:
        with timings.stage("layout"):
            previous = previous_positions(lake) if settings.analysis.layout_from_previous else {}
            tables = lay_out(
                tables, settings.analysis.seed, settings.analysis.max_channels, previous=previous
            )
    return publish(lake, settings, graph, tables, out_dir, render=render, now=now, timings=timings)


def previous_positions(lake: Lake) -> dict[Any, tuple[float, float]]:
    """Map positions of the newest run's channels (empty when there is no run yet)."""
    from vieweratlas.render.layout import previous_positions_of
    from vieweratlas.runs import list_runs, open_run

    if not list_runs(lake):
        return {}
    try:
        return previous_positions_of(open_run(lake).table("nodes"))
    except (LakeError, OSError, pa.ArrowException) as exc:  # an unreadable old run: start fresh
        log.warning("layout starts fresh: the newest run's positions are unreadable (%s)", exc)
        return {}


def lay_out(
    tables: RunTables,
    seed: int,
    limit: int | None = None,
    *,
    previous: Mapping[Any, tuple[float, float]] | None = None,
) -> RunTables:
    """The tables with map positions for the channels drawn (all, or the ``limit`` that
    :func:`~vieweratlas.pipeline.communities.drawn` picks; the others keep NaN), starting
    from ``previous`` positions (keyed by ``(platform, channel)``) where given. Pure."""
    from vieweratlas.render.layout import compute_layout, node_keys

    g = tables.graph
    membership = tables.nodes["community"].to_numpy()
    keep = drawn(tables, limit) if limit is not None else np.arange(g.n)
    if len(keep) < g.n:
        g = g.subgraph(keep)
        membership = membership[keep]
    xy = np.full((tables.graph.n, 2), np.nan)
    keys = node_keys(tables.nodes.take(pa.array(keep))) if previous else None
    xy[keep] = compute_layout(
        g.n, g.src, g.dst, g.weight, membership, seed=seed, previous=previous or None, keys=keys
    )
    return with_positions(tables, xy)


def channel_metadata(lake: Lake, graph: ChannelGraph, *, until: datetime | None) -> pa.Table:
    """Latest known game, language, title per node of ``graph`` (nulls where unknown)."""
    cols = ["ts", "platform", "channel", "game", "language", "title"]
    meta = lake.read("channels", columns=cols, until=until)
    if not meta.num_rows:
        return empty_metadata(graph.n)
    meta = meta.filter(pc.is_in(meta["channel"], value_set=graph.channel))
    latest = (
        meta.sort_by("ts")
        .group_by(["platform", "channel"], use_threads=False)
        .aggregate([("game", "last"), ("language", "last"), ("title", "last")])
    )
    nodes = pa.table(
        {
            "platform": graph.platform.cast(pa.string()),
            "channel": graph.channel.cast(pa.string()),
            "_i": pa.array(np.arange(graph.n)),
        }
    )
    latest = pa.table(
        {name: latest[name].cast(pa.string()) for name in ("platform", "channel")}
        | {name: latest[f"{name}_last"] for name in ("game", "language", "title")}
    )
    joined = nodes.join(latest, keys=["platform", "channel"], join_type="left outer").sort_by("_i")
    return joined.select(["game", "language", "title"])
