"""The second level: sub-communities found inside each community.

Each community's own subgraph (only the edges between its members) is clustered again by
modularity: within a community, modularity compares ties to what the community's own
degrees predict, so it finds the groups a community is made of (the FPS community's Apex
and VALORANT audiences) rather than re-finding the community. A split is kept only if it
is clearly better than none (the subgraph modularity reaches ``min_modularity``); otherwise
the community is its own single sub-community. Sub-communities are nested by construction
and numbered after the top-level ids (``k, k+1, …``, by parent then size), so an id is
unique across the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    UNCLUSTERED,
    WeightedGraph,
    build_graph,
    cluster,
    finish,
    igraph_seeded,
)


@dataclass(frozen=True)
class _Edges:
    """A bare :class:`WeightedGraph` for a community's subgraph."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def adjacency(self) -> sp.csr_matrix:
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()


@dataclass(frozen=True)
class Hierarchy:
    subcommunity: np.ndarray  # int32 per node: sub-community id (>= k), or -1
    parent: np.ndarray  # int32 per sub-community id - k: its community


def subcommunities(
    graph: WeightedGraph,
    membership: np.ndarray,
    *,
    algorithm: str,
    resolution: float,
    seed: int,
    min_size: int,
    min_modularity: float,
) -> Hierarchy:
    """Sub-communities of every community of ``membership`` (ids ``0..k-1``, ``-1`` loose)."""
    k = int(membership.max(initial=-1)) + 1
    sub = np.full(len(membership), UNCLUSTERED, dtype=np.int64)
    parents: list[int] = []
    same = membership[graph.src] == membership[graph.dst]
    src, dst, w = graph.src[same], graph.dst[same], graph.weight[same]
    edge_comm = membership[src]
    order = np.argsort(edge_comm, kind="stable")
    src, dst, w, edge_comm = src[order], dst[order], w[order], edge_comm[order]
    bounds = np.searchsorted(edge_comm, np.arange(k + 1))
    local = np.zeros(len(membership), dtype=np.int64)
    next_id = k
    with igraph_seeded(seed):
        for c in range(k):
            members = np.flatnonzero(membership == c)
            local[members] = np.arange(len(members))
            lo, hi = bounds[c], bounds[c + 1]
            parts = np.zeros(len(members), dtype=np.int64)
            if len(members) >= 2 * min_size and hi > lo:
                inner = _Edges(len(members), local[src[lo:hi]], local[dst[lo:hi]], w[lo:hi])
                g = build_graph(inner)
                raw = cluster(g, algorithm=algorithm, resolution=resolution)
                split = finish(g, inner.adjacency(), raw, resolution=resolution, min_size=min_size)
                if split.modularity >= min_modularity and split.membership.max() > 0:
                    parts = split.membership.astype(np.int64)
                    # Loose members of a split stay with the largest part.
                    parts[parts < 0] = 0
            count = int(parts.max()) + 1
            sub[members] = next_id + parts
            parents.extend([c] * count)
            next_id += count
    return Hierarchy(sub.astype(np.int32), np.asarray(parents, dtype=np.int32))
