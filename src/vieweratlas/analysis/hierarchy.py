"""The second level: sub-communities found inside each community, with their stability.

Each community's own subgraph (only the edges between its members) is clustered again by
modularity: within a community, modularity compares ties to what the community's own
degrees predict, so it finds the groups a community is made of (the FPS community's Apex
and VALORANT audiences) rather than re-finding the community. All communities are split in
**one** Leiden call on the graph of within-community edges: the Constant Potts Model with
node weight ``k_i / sqrt(2·m_c)`` (``k_i`` the channel's within-community strength, ``m_c``
its community's edge weight) is, community by community, exactly modularity inside that
community, and Leiden never joins nodes across the components the dropped edges leave. A
split is kept only if it is clearly better than none (its modularity within the community
reaches ``min_modularity``); otherwise the community is its own single sub-community.
Sub-communities are nested by construction and numbered after the top-level ids (``k, k+1,
…``, by parent then size), so an id is unique across the run.

``stability`` per sub-community: as one level up (:mod:`vieweratlas.analysis.consensus`),
the best Jaccard match (Hennig 2007) with the sub-communities left after ``runs − 1``
jittered draws of simultaneous local moves, scored by modularity within the community.
With the viewers at hand, :func:`refine_within` then lets each channel's whole audience
vote among the sub-communities of its own community (measured on the planted generator:
sub-community NMI 0.89 → 0.95 at mixing 0.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    LEIDEN_ITERATIONS,
    UNCLUSTERED,
    WeightedGraph,
    edge_tuples,
    igraph_seeded,
    merge_small,
)
from vieweratlas.analysis.consensus import jitter_confidence


@dataclass(frozen=True)
class Hierarchy:
    subcommunity: np.ndarray  # int32 per node: sub-community id (>= k), or -1
    parent: np.ndarray  # int32 per sub-community id - k: its community
    stability: np.ndarray | None = None  # float64 per sub-community id - k


def subcommunities(
    graph: WeightedGraph,
    membership: np.ndarray,
    *,
    algorithm: str,
    resolution: float,
    seed: int,
    min_size: int,
    min_modularity: float,
    runs: int = 1,
) -> Hierarchy:
    """Sub-communities of every community of ``membership`` (ids ``0..k-1``, ``-1`` loose).

    ``algorithm`` is accepted for symmetry with the top level; the split is always Leiden
    (the Constant Potts Model form above has no Louvain counterpart in igraph)."""
    del algorithm
    n = len(membership)
    k = int(membership.max(initial=-1)) + 1
    size = np.bincount(membership[membership >= 0], minlength=k)
    splittable = np.append(size >= 2 * min_size, False)  # index -1: loose channels
    ms, md = membership[graph.src], membership[graph.dst]
    inside = (ms == md) & splittable[ms]
    src, dst = graph.src[inside], graph.dst[inside]
    w = np.asarray(graph.weight[inside], dtype=np.float64)
    split = _Split(n, src, dst, membership, k, resolution, min_size, min_modularity)
    g = ig.Graph(n=n, edges=edge_tuples(src, dst), directed=False)
    with igraph_seeded(seed):
        parts = split.finish(split.cluster(g, w), w)
    sub, parent = _number(membership, parts, k)
    local = np.where(sub >= 0, sub - k, UNCLUSTERED)
    _, stability = jitter_confidence(
        n, src, dst, w, local, resolution=resolution, seed=seed, runs=runs - 1,
        node_weights=split.node_weights,
    )  # fmt: skip
    return Hierarchy(sub.astype(np.int32), parent, stability)


class _Split:
    """One community-wise modularity split of the within-community graph."""

    def __init__(
        self,
        n: int,
        src: np.ndarray,
        dst: np.ndarray,
        membership: np.ndarray,
        k: int,
        resolution: float,
        min_size: int,
        min_modularity: float,
    ) -> None:
        self.n, self.src, self.dst, self.membership, self.k = n, src, dst, membership, k
        self.resolution, self.min_size, self.min_modularity = resolution, min_size, min_modularity

    def strengths(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-node within strength, per-community edge weight ``m_c``)."""
        s = np.bincount(self.src, w, minlength=self.n) + np.bincount(self.dst, w, minlength=self.n)
        m = np.bincount(self.membership[self.src], w, minlength=self.k)
        return s, m

    def node_weights(self, w: np.ndarray) -> np.ndarray:
        """``k_i / sqrt(2·m_c)``: CPM with these is modularity within each community."""
        s, m = self.strengths(w)
        mc = m[np.maximum(self.membership, 0)]
        out: np.ndarray = np.divide(s, np.sqrt(2 * mc), out=np.zeros(self.n), where=mc > 0)
        return out

    def cluster(self, g: ig.Graph, w: np.ndarray) -> np.ndarray:
        clusters = g.community_leiden(
            objective_function="CPM",
            weights=w.tolist(),
            node_weights=self.node_weights(w).tolist(),
            resolution=self.resolution,
            n_iterations=LEIDEN_ITERATIONS,
        )
        return np.asarray(clusters.membership, dtype=np.int64)

    def finish(self, raw: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Raw clusters → parts per node (``-1``: the community is not split): small parts
        merged into their neighbour, splits below ``min_modularity`` undone, a split's
        loose members in its largest part."""
        s, m = self.strengths(w)
        raw = np.where(s > 0, raw, UNCLUSTERED)  # no tie inside: no part of its own
        tied = raw >= 0
        raw[tied] = np.unique(raw[tied], return_inverse=True)[1].ravel()  # ids 0..parts-1
        adjacency = sp.coo_matrix((w, (self.src, self.dst)), shape=(self.n, self.n))
        parts, _ = merge_small((adjacency + adjacency.T).tocsr(), raw, self.min_size)
        c = self.membership
        ok = parts >= 0
        # Modularity within each community: Σ_parts L_s/m_c − γ (K_s / 2m_c)².
        same = ok[self.src] & (parts[self.src] == parts[self.dst])
        ids, inv = np.unique(parts[ok], return_inverse=True)
        inner = np.bincount(
            np.searchsorted(ids, parts[self.src][same]), w[same], minlength=len(ids)
        )
        total = np.bincount(inv, s[ok], minlength=len(ids))
        owner = np.zeros(len(ids), dtype=np.int64)
        owner[inv] = c[ok]
        mc = m[owner]
        q_part = np.divide(inner, mc, out=np.zeros(len(ids)), where=mc > 0) - self.resolution * (
            np.divide(total, 2 * mc, out=np.zeros(len(ids)), where=mc > 0) ** 2
        )
        quality = np.bincount(owner, q_part, minlength=self.k)
        count = np.bincount(owner, minlength=self.k)
        accepted = (quality >= self.min_modularity) & (count >= 2)
        keep = np.zeros(self.n, dtype=bool)
        cc = np.maximum(c, 0)
        keep[ok] = accepted[cc[ok]]
        out = np.full(self.n, UNCLUSTERED, dtype=np.int64)
        out[keep] = parts[keep]
        # A split community's loose members join its largest part.
        loose = (c >= 0) & accepted[cc] & ~keep
        if loose.any():
            psize = np.bincount(inv, minlength=len(ids))
            best = np.full(self.k, -1, dtype=np.int64)
            order = np.lexsort((ids, -psize))  # largest first, ties by lowest id
            first = np.unique(owner[order], return_index=True)[1]
            best[owner[order][first]] = ids[order][first]
            out[loose] = best[c[loose]]
        return out


def _number(membership: np.ndarray, parts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-community ids ``k, k+1, …`` by parent, then size (largest first, ties by the
    lowest raw id), and each one's parent. A community that is not split is one part."""
    n = len(membership)
    placed = membership >= 0
    sub = np.full(n, UNCLUSTERED, dtype=np.int64)
    if not placed.any():
        return sub, np.zeros(0, dtype=np.int32)
    key_part = np.where(parts >= 0, parts, -1)[placed]
    c = membership[placed].astype(np.int64)
    pairs, inv, counts = np.unique(
        np.column_stack([c, key_part]), axis=0, return_inverse=True, return_counts=True
    )
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
    rank = np.empty(len(pairs), dtype=np.int64)
    rank[order] = np.arange(len(pairs))
    sub[placed] = k + rank[inv.ravel()]
    return sub, pairs[order, 0].astype(np.int32)


def refine_within(
    excess: np.ndarray, hierarchy: Hierarchy, membership: np.ndarray
) -> tuple[Hierarchy, int]:
    """The viewer vote one level down: a channel moves to the sub-community *of its own
    community* that its viewers' attention favours most beyond chance (``excess``:
    channels × sub-communities, columns ``id − k``). Returns (hierarchy, channels moved)."""
    k = int(membership.max(initial=-1)) + 1
    sub = hierarchy.subcommunity.astype(np.int64)
    placed = np.flatnonzero((membership >= 0) & (sub >= k))
    if len(placed) == 0 or excess.shape[1] == 0:
        return hierarchy, 0
    own = hierarchy.parent[None, :] == membership[placed][:, None]
    scores = np.where(own, excess[placed], -np.inf)
    best = np.argmax(scores, axis=1)
    current = sub[placed] - k
    rows = np.arange(len(placed))
    go = (best != current) & (scores[rows, best] > scores[rows, current])
    sub[placed[go]] = best[go] + k
    return Hierarchy(sub.astype(np.int32), hierarchy.parent, hierarchy.stability), int(go.sum())
