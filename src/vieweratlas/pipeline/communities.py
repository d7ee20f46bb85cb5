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

from vieweratlas.analysis.communities import UNCLUSTERED
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.analysis.labels import label_communities
from vieweratlas.config import AnalysisSettings
from vieweratlas.pipeline.structure import Structure, drawn_channels, find_structure

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
    memberships: pa.Table | None = None  # platform, channel, community, label, share
    unplaced: pa.Table | None = None  # platform, channel, viewers, reason
    seconds: dict[str, float] = field(default_factory=dict)  # parts of the structure step


def find_communities(
    graph: ChannelGraph, cfg: AnalysisSettings, meta: pa.Table | None = None
) -> RunTables:
    """Communities of ``graph`` under ``cfg``; ``meta`` (game, language, title per node,
    aligned with ``graph``) names them. Channels with no edge are placed where their
    viewers go beyond chance (``cfg.attach_unclustered``) or listed in ``unplaced``."""
    meta = meta if meta is not None else empty_metadata(graph.n)
    found = find_structure(graph, cfg)
    unplaced = _unplaced(graph, found.unplaced_reason)
    shown = np.flatnonzero((graph.degree() > 0) | (found.membership >= 0))
    take = pa.array(shown, pa.int64())
    placed = graph.subgraph(shown)
    membership = found.membership[shown]
    sub = found.subcommunity[shown]
    meta = meta.take(take)
    top = label_communities(
        membership, placed.channel, placed.viewers, meta["game"], meta["language"]
    )
    top = _unique_viewers(top, membership, placed.incidence, known=found.community_viewers)
    top = _levels(top, parent=None, stability=found.stability)
    inside = sub >= 0
    subs = label_communities(
        sub[inside],
        placed.channel.filter(pa.array(inside)),
        placed.viewers[inside],
        meta["game"].filter(pa.array(inside)),
        meta["language"].filter(pa.array(inside)),
    )
    subs = _unique_viewers(
        subs, sub[inside], None if placed.incidence is None else placed.incidence[:, inside]
    )
    subs = _levels(subs, parent=found.parent, stability=found.sub_stability)
    communities = pa.concat_tables([top, subs])
    nodes = _nodes(placed, found, shown, meta, communities)
    ties = _memberships(graph, found, communities)
    counts = {
        "channels": placed.n,
        "channels_analysed": graph.n,
        "edges": len(placed.src),
        "communities": int((top["community"].to_numpy() >= 0).sum()),
        "subcommunities": subs.num_rows,
        "channels_without_edges": int((graph.degree() == 0).sum()),
        "channels_attached": int(found.attached.sum()),
        "channels_moved_by_viewers": found.moved,
        "channels_unplaced": unplaced.num_rows,
        "bridges": int(found.memberships.bridge.sum()),
        "unclustered_channels": int((membership == UNCLUSTERED).sum()),
        "small_communities_merged": found.merged,
    }
    return RunTables(
        placed,
        nodes,
        edges_table(placed),
        communities,
        found.modularity,
        counts,
        memberships=ties,
        unplaced=unplaced,
        seconds=found.seconds,
    )


def drawn(tables: RunTables, limit: int) -> np.ndarray:
    """Indices (into ``tables.nodes``) of the channels the maps draw, at most ``limit``."""
    return drawn_channels(
        tables.nodes["viewers"].to_numpy(), tables.nodes["community"].to_numpy(), limit
    )


def _levels(
    table: pa.Table, *, parent: np.ndarray | None, stability: np.ndarray | None
) -> pa.Table:
    """Add ``level`` (1 community, 2 sub-community), ``parent`` and ``stability``."""
    ids = table["community"].to_numpy()
    first = 0
    if parent is None:
        level = np.ones(len(ids), np.int8)
        parents = pa.nulls(len(ids), pa.int32())
    else:
        first = int(ids.min()) if len(ids) else 0  # sub-community ids run k, k+1, …
        level = np.full(len(ids), 2, np.int8)
        parents = pa.array(parent[ids - first], pa.int32())
    if stability is None:
        stab = pa.nulls(len(ids), pa.float64())
    else:
        values = np.full(len(ids), np.nan)
        at = ids - first
        ok = (at >= 0) & (at < len(stability))
        values[ok] = stability[at[ok]]
        stab = pa.array(values, pa.float64(), from_pandas=True)
    # Appended: the leading columns (community, label, size, viewers, …) are a contract.
    table = table.append_column("parent", parents)
    table = table.append_column("level", pa.array(level, pa.int8()))
    return table.append_column("stability", stab)


def _unplaced(graph: ChannelGraph, reasons: list[str | None]) -> pa.Table:
    idx = np.array([i for i, r in enumerate(reasons) if r is not None], dtype=np.int64)
    take = pa.array(idx, pa.int64())
    return pa.table(
        {
            "platform": graph.platform.take(take),
            "channel": graph.channel.take(take),
            "viewers": pa.array(graph.viewers[idx], pa.int64()),
            "reason": pa.array([reasons[i] for i in idx.tolist()], pa.string()),
        }
    )


def _memberships(graph: ChannelGraph, found: Structure, communities: pa.Table) -> pa.Table:
    """``platform, channel, community, label, share``, strongest first per channel."""
    ties = found.memberships
    order = np.lexsort((-ties.share, ties.channel))
    rows = pa.array(ties.channel[order], pa.int64())
    community = pa.array(ties.community[order], pa.int32())
    label = communities["label"].take(pc.index_in(community, value_set=communities["community"]))
    return pa.table(
        {
            "platform": graph.platform.take(rows),
            "channel": graph.channel.take(rows),
            "community": community,
            "label": label,
            "share": pa.array(ties.share[order], pa.float64()),
        }
    )


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
    communities: pa.Table,
    membership: np.ndarray,
    incidence: sp.csr_matrix | None,
    known: np.ndarray | None = None,
) -> pa.Table:
    """A community's ``viewers`` = unique viewers of its channels (a viewer of two of its
    channels counts once); the plain sum over channels is kept as ``channel_viewers_sum``.
    ``known``: those counts per community id, already counted by the structure step."""
    summed = communities["viewers"]
    ids = communities["community"].to_numpy()
    if known is not None and len(ids) and ids.min() >= 0 and ids.max() < len(known):
        unique = pa.array(known[ids].astype(np.int64))
    elif incidence is None:
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
    graph: ChannelGraph, found: Structure, shown: np.ndarray, meta: pa.Table, communities: pa.Table
) -> pa.Table:
    membership = found.membership[shown]
    label_of = pc.index_in(pa.array(membership), value_set=communities["community"])
    nan = pa.array(np.full(graph.n, np.nan), pa.float64())
    return pa.table(
        {
            "platform": graph.platform,
            "channel": graph.channel,
            "community": pa.array(membership, pa.int32()),
            "label": communities["label"].take(label_of),
            "subcommunity": pa.array(found.subcommunity[shown], pa.int32()),
            "confidence": pa.array(found.confidence[shown], pa.float64(), from_pandas=True),
            "bridge": pa.array(found.memberships.bridge[shown], pa.bool_()),
            "viewers": pa.array(graph.viewers, pa.int64()),
            "game": meta["game"],
            "language": meta["language"],
            "title": meta["title"],
            "x": nan,
            "y": nan,
            "degree": pa.array(graph.degree(), pa.int32()),
            "strength": pa.array(graph.strength(), pa.float64()),
            "attached": pa.array(found.attached[shown], pa.bool_()),
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
