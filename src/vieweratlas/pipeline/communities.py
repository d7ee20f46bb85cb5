"""Step two: the channel graph → communities, labels and the run's tables. Pure.

Takes a :class:`~vieweratlas.analysis.graph.ChannelGraph` (from any engine) and the
channels' metadata, and returns the tables every output is made from. No files, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from vieweratlas.analysis.communities import UNCLUSTERED, attach, detect
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.analysis.labels import label_communities
from vieweratlas.config import AnalysisSettings
from vieweratlas.errors import AnalysisError

META_COLUMNS = ("game", "language", "title")


@dataclass(frozen=True)
class RunTables:
    """A run's results before publishing: the channels shown and their tables."""

    graph: ChannelGraph  # the placed channels only, re-indexed like ``nodes``
    nodes: pa.Table
    edges: pa.Table
    communities: pa.Table
    modularity: float
    counts: dict[str, int] = field(default_factory=dict)


def find_communities(
    graph: ChannelGraph, cfg: AnalysisSettings, meta: pa.Table | None = None
) -> RunTables:
    """Communities of ``graph`` under ``cfg``; ``meta`` (game, language, title per node,
    aligned with ``graph``) names them. Channels with no edge are left out unless
    ``cfg.attach_unclustered`` places them by where their viewers go."""
    meta = meta if meta is not None else empty_metadata(graph.n)
    has_edges = graph.degree() > 0
    connected = np.flatnonzero(has_edges)
    if len(connected) < 2:
        raise AnalysisError(
            f"no two channels share at least {cfg.overlap_threshold} viewers beyond chance "
            "(lower analysis.overlap_threshold / analysis.significance, or widen "
            "--since/--until)"
        )
    part = detect(
        graph.subgraph(connected),
        algorithm=cfg.algorithm,
        resolution=cfg.resolution,
        seed=cfg.seed,
        min_size=cfg.min_community_size,
    )
    membership = np.full(graph.n, UNCLUSTERED, dtype=np.int32)
    membership[connected] = part.membership
    attached = np.zeros(graph.n, dtype=bool)
    if cfg.attach_unclustered and graph.incidence is not None:
        membership, attached = attach(graph.incidence, membership)
    shown = np.flatnonzero(has_edges | attached)
    placed = graph.subgraph(shown)
    membership, attached = membership[shown], attached[shown]
    meta = meta.take(pa.array(shown, pa.int64()))
    communities = label_communities(
        membership, placed.channel, placed.viewers, meta["game"], meta["language"]
    )
    communities = _unique_viewers(communities, membership, placed.incidence)
    nodes = _nodes(placed, membership, attached, meta, communities)
    counts = {
        "channels": placed.n,
        "edges": len(placed.src),
        "communities": int((communities["community"].to_numpy() >= 0).sum()),
        "channels_without_edges": graph.n - len(connected),
        "channels_attached": int(attached.sum()),
        "unclustered_channels": int((membership == UNCLUSTERED).sum()),
        "small_communities_merged": part.merged,
    }
    return RunTables(placed, nodes, edges_table(placed), communities, part.modularity, counts)


def empty_metadata(n: int) -> pa.Table:
    nulls = pa.nulls(n, pa.string())
    return pa.table({name: nulls for name in META_COLUMNS})


def with_positions(tables: RunTables, xy: np.ndarray) -> RunTables:
    """``tables`` with the nodes' ``x``/``y`` set (from a layout)."""
    nodes = tables.nodes
    for i, axis in enumerate(("x", "y")):
        nodes = nodes.set_column(
            nodes.schema.get_field_index(axis), axis, pa.array(xy[:, i], pa.float64())
        )
    return replace(tables, nodes=nodes)


def _unique_viewers(
    communities: pa.Table, membership: np.ndarray, incidence: sp.csr_matrix | None
) -> pa.Table:
    """A community's ``viewers`` = unique viewers of its channels (a viewer of two of its
    channels counts once); the plain sum over channels is kept as ``channel_viewers_sum``."""
    summed = communities["viewers"]
    ids = communities["community"].to_numpy()
    if incidence is None:
        unique = pa.nulls(len(ids), pa.int64())
    else:
        b = incidence.astype(bool).astype(np.float32).tocsr()
        col = np.searchsorted(ids, membership)  # ids are sorted (np.unique in labels)
        onehot = sp.csr_matrix(
            (np.ones(len(membership), np.float32), (np.arange(len(membership)), col)),
            shape=(len(membership), len(ids)),
        )
        reach = b @ onehot  # users × communities: channels of each community a user is in
        reach.data[:] = 1.0
        unique = pa.array(np.asarray(reach.sum(axis=0)).ravel().astype(np.int64))
    at = communities.schema.get_field_index("viewers")
    communities = communities.set_column(at, "viewers", unique)
    return communities.append_column("channel_viewers_sum", summed)


def _nodes(
    graph: ChannelGraph,
    membership: np.ndarray,
    attached: np.ndarray,
    meta: pa.Table,
    communities: pa.Table,
) -> pa.Table:
    label_of = pc.index_in(pa.array(membership), value_set=communities["community"])
    nan = pa.array(np.full(graph.n, np.nan), pa.float64())
    return pa.table(
        {
            "platform": graph.platform,
            "channel": graph.channel,
            "community": pa.array(membership, pa.int32()),
            "label": communities["label"].take(label_of),
            "viewers": pa.array(graph.viewers, pa.int64()),
            "game": meta["game"],
            "language": meta["language"],
            "title": meta["title"],
            "x": nan,
            "y": nan,
            "degree": pa.array(graph.degree(), pa.int32()),
            "strength": pa.array(graph.strength(), pa.float64()),
            "attached": pa.array(attached, pa.bool_()),
        }
    )


def edges_table(graph: ChannelGraph) -> pa.Table:
    """``source, target, shared, weight`` (+ platforms), strongest first."""
    order = pa.array(np.argsort(-graph.weight, kind="stable"))
    src, dst = pa.array(graph.src).take(order), pa.array(graph.dst).take(order)
    return pa.table(
        {
            "source": graph.channel.take(src),
            "target": graph.channel.take(dst),
            "shared": pa.array(graph.shared, pa.int64()).take(order),
            "weight": pa.array(graph.weight, pa.float64()).take(order),
            "source_platform": graph.platform.take(src),
            "target_platform": graph.platform.take(dst),
        }
    )
