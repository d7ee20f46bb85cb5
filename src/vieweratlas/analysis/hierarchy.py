"""The second level: sub-communities found inside each community.

Each community's own subgraph (only the edges between its members) is clustered again by
modularity: within a community, modularity compares ties to what the community's own
degrees predict, so it finds the groups a community is made of (the FPS community's Apex
and VALORANT audiences) rather than re-finding the community. A split is kept only if it
is clearly better than none (the subgraph modularity reaches ``min_modularity``); otherwise
the community is its own single sub-community. Sub-communities are nested by construction
and numbered after the top-level ids (``k, k+1, …``, by parent then size), so an id is
unique across the run. With the viewers at hand, :func:`refine_within` then lets each
channel's whole audience vote among the sub-communities of its own community (measured on
the planted generator: sub-community NMI 0.89 → 0.95 at mixing 0.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    UNCLUSTERED,
    WeightedGraph,
    cluster,
    finish,
    igraph_seeded,
)


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
    # One graph of the within-community edges; each community is a C-level induced subgraph.
    same = membership[graph.src] == membership[graph.dst]
    g = ig.Graph(
        n=graph.n, edges=np.column_stack([graph.src[same], graph.dst[same]]), directed=False
    )
    g.es["weight"] = graph.weight[same]
    order = np.argsort(membership, kind="stable")
    bounds = np.searchsorted(membership[order], np.arange(k + 1))
    next_id = k
    with igraph_seeded(seed):
        for c in range(k):
            members = order[bounds[c] : bounds[c + 1]]
            parts = np.zeros(len(members), dtype=np.int64)
            if len(members) >= 2 * min_size:
                inner = g.induced_subgraph(members.tolist(), implementation="create_from_scratch")
                if inner.ecount():
                    raw = cluster(inner, algorithm=algorithm, resolution=resolution)
                    adjacency = inner.get_adjacency_sparse(attribute="weight")
                    split = finish(
                        inner,
                        sp.csr_matrix(adjacency),
                        raw,
                        resolution=resolution,
                        min_size=min_size,
                    )
                    if split.modularity >= min_modularity and split.membership.max() > 0:
                        parts = split.membership.astype(np.int64)
                        parts[parts < 0] = 0  # loose members of a split: the largest part
            count = int(parts.max()) + 1
            sub[members] = next_id + parts
            parents.extend([c] * count)
            next_id += count
    return Hierarchy(sub.astype(np.int32), np.asarray(parents, dtype=np.int32))


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
    return Hierarchy(sub.astype(np.int32), hierarchy.parent), int(go.sum())
