"""The structure of a channel graph, as arrays: communities with confidence, placement of
the channels without edges, overlapping memberships, sub-communities, and what to draw.

Pure; :mod:`vieweratlas.pipeline.communities` turns the result into the run's tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import UNCLUSTERED, EdgeList, detect
from vieweratlas.analysis.consensus import jitter_confidence
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.analysis.hierarchy import refine_within, subcommunities
from vieweratlas.analysis.memberships import (
    Memberships,
    attention_noise,
    excess_attention,
    excess_from_cooccurrence,
    excess_from_edges,
    memberships,
    place,
    refine,
)
from vieweratlas.analysis.overlap import loyalty_weights
from vieweratlas.config import AnalysisSettings
from vieweratlas.errors import AnalysisError

NO_SHARED_VIEWER = "no viewer seen in another analysed channel"
NO_TIE = "no tie to any community beyond chance"
NOT_ATTACHED = "no edge beyond chance (analysis.attach_unclustered is off)"
SMALL_GROUP = "in a group smaller than analysis.min_community_size with no ties outside it"


@dataclass(frozen=True)
class Structure:
    """Everything per node of the analysed graph (``-1``: none)."""

    membership: np.ndarray  # int32 community 0..k-1
    attached: np.ndarray  # bool: placed by its viewers' attention, not by edges
    confidence: np.ndarray  # float64 0–1 (NaN where unplaced)
    stability: np.ndarray  # float64 per community
    subcommunity: np.ndarray  # int32 sub-community id (k, k+1, …)
    parent: np.ndarray  # int32 per sub-community id − k
    sub_stability: np.ndarray | None  # float64 per sub-community id − k
    community_viewers: np.ndarray | None  # int64 unique viewers per community, if counted
    memberships: Memberships
    unplaced_reason: list[str | None]  # per node
    modularity: float
    merged: int
    moved: int  # channels the viewer vote moved to another community
    seconds: dict[str, float]  # time per part (for the summary; no effect on results)


def find_structure(graph: ChannelGraph, cfg: AnalysisSettings) -> Structure:
    """Communities, confidence, placement, memberships and hierarchy of ``graph``."""
    has_edges = graph.degree() > 0
    connected = np.flatnonzero(has_edges)
    if len(connected) < 2:
        raise AnalysisError(
            f"no two channels share at least {cfg.overlap_threshold} viewers beyond chance "
            "(lower analysis.overlap_threshold / analysis.significance, or widen "
            "--since/--until)"
        )
    clock = _Clock()
    remap = np.full(graph.n, -1, dtype=np.int64)
    remap[connected] = np.arange(len(connected))
    found = detect(
        EdgeList(len(connected), remap[graph.src], remap[graph.dst], graph.weight),
        algorithm=cfg.algorithm,
        resolution=cfg.resolution,
        seed=cfg.seed,
        min_size=cfg.min_community_size,
    )
    clock.lap("leiden")
    membership = np.full(graph.n, UNCLUSTERED, dtype=np.int32)
    membership[connected] = found.membership
    reach: dict[str, np.ndarray] = {}
    excess, noise = _excess(graph, membership, cfg, noise=False)
    attached = np.zeros(graph.n, dtype=bool)
    if cfg.attach_unclustered:
        membership, attached = place(excess, membership)
    moved = np.zeros(graph.n, dtype=bool)
    if cfg.refine_by_viewers:  # min_z 0: any gain moves, the noise scale plays no part
        membership, moved = refine(excess, np.zeros_like(excess), membership, min_z=0.0)
    if moved.any() or noise is None:  # memberships against the communities as they now are
        excess, noise = _excess(graph, membership, cfg, noise=True, reach=reach)
    clock.lap("placement_and_vote")
    confidence, stability = jitter_confidence(
        graph.n, graph.src, graph.dst, graph.weight, membership,
        resolution=cfg.resolution, seed=cfg.seed, runs=cfg.consensus_runs - 1,
    )  # fmt: skip
    confidence[membership < 0] = np.nan
    clock.lap("confidence")
    assert noise is not None
    ties = memberships(
        excess, noise, membership, min_share=cfg.bridge_share, min_z=cfg.bridge_min_z
    )
    # A channel placed by its viewers: how much of its excess attention goes there.
    own = ties.community == membership[ties.channel]
    share_own = np.full(graph.n, np.nan)
    share_own[ties.channel[own]] = ties.share[own]
    confidence[attached] = share_own[attached]
    clock.lap("memberships")
    hierarchy = subcommunities(
        graph,
        membership,
        algorithm=cfg.algorithm,
        resolution=cfg.sub_resolution,
        seed=cfg.seed,
        min_size=cfg.min_community_size,
        min_modularity=cfg.sub_min_modularity,
        runs=cfg.consensus_runs,
    )
    if cfg.refine_by_viewers and graph.incidence is not None:
        k = int(membership.max(initial=-1)) + 1
        sub_excess, _ = _excess(
            graph,
            np.where(hierarchy.subcommunity >= k, hierarchy.subcommunity - k, UNCLUSTERED),
            cfg,
            noise=False,
        )
        hierarchy, _ = refine_within(sub_excess, hierarchy, membership)
    clock.lap("subcommunities")
    return Structure(
        membership=membership,
        attached=attached,
        confidence=confidence,
        stability=stability,
        subcommunity=hierarchy.subcommunity,
        parent=hierarchy.parent,
        sub_stability=hierarchy.stability,
        community_viewers=reach.get("viewers"),
        memberships=ties,
        unplaced_reason=_reasons(graph, membership, has_edges, cfg),
        modularity=found.modularity,
        merged=found.merged,
        moved=int(moved.sum()),
        seconds=clock.seconds,
    )


class _Clock:
    """Seconds per part of the structure step, for the summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 4)
        self._last = now


def _weights(incidence: sp.csr_matrix, cfg: AnalysisSettings) -> sp.spmatrix:
    if cfg.viewer_weight == "loyalty":
        return loyalty_weights(incidence, cfg.loyalty_cap)
    return incidence.astype(bool)


def _excess(
    graph: ChannelGraph,
    membership: np.ndarray,
    cfg: AnalysisSettings,
    *,
    noise: bool,
    reach: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(excess attention, its noise scale or None when not asked for and not free). Where
    the noise needs a pass over the viewers, ``reach["viewers"]`` gets each community's
    unique viewers from it."""
    if graph.incidence is None:
        return excess_from_edges(graph.n, graph.src, graph.dst, graph.shared, membership)
    if cfg.viewer_weight == "presence" and graph.cooccurrence is not None:
        excess = excess_from_cooccurrence(graph.cooccurrence, graph.viewers, membership)
        if not noise:
            return excess, None
        scale, viewers = attention_noise(graph.incidence.astype(bool), membership)
        if reach is not None:
            reach["viewers"] = viewers
        return excess, scale
    return excess_attention(_weights(graph.incidence, cfg), membership)


def _reasons(
    graph: ChannelGraph, membership: np.ndarray, has_edges: np.ndarray, cfg: AnalysisSettings
) -> list[str | None]:
    out: list[str | None] = [None] * graph.n
    loose = np.flatnonzero(membership == UNCLUSTERED)
    if len(loose) == 0:
        return out
    elsewhere = np.ones(graph.n, dtype=bool)
    if graph.incidence is not None:
        b = graph.incidence.astype(bool).tocsr()
        multi = (np.diff(b.indptr) > 1).astype(np.float64)  # viewers seen in 2+ channels
        elsewhere = np.asarray(b.T @ multi).ravel() > 0
    for i in loose.tolist():
        if has_edges[i]:
            out[i] = SMALL_GROUP
        elif not elsewhere[i]:
            out[i] = NO_SHARED_VIEWER
        elif cfg.attach_unclustered:
            out[i] = NO_TIE
        else:
            out[i] = NOT_ATTACHED
    return out


def drawn_channels(viewers: np.ndarray, membership: np.ndarray, limit: int) -> np.ndarray:
    """Sorted indices of the channels the maps draw: every community's most-watched channel,
    then the most-watched of the rest, ``limit`` in all (all of them if fewer)."""
    n = len(viewers)
    if n <= limit:
        return np.arange(n)
    order = np.lexsort((np.arange(n), -viewers))  # most-watched first, stable
    first = np.zeros(n, dtype=bool)
    ids, at = np.unique(membership[order], return_index=True)
    leaders = np.sort(at[ids >= 0])  # positions in ``order``: most-watched leaders first
    first[order[leaders[:limit]]] = True
    rest = order[~first[order]][: max(limit - int(first.sum()), 0)]
    first[rest] = True
    return np.flatnonzero(first)
