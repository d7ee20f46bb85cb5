"""Community detection (Leiden or Louvain) with a minimum community size.

Deterministic for a given seed. Communities smaller than ``min_size`` are merged into the
neighbouring community they are most strongly tied to; a small group with no ties outside
itself is marked unclustered (``-1``), and :func:`attach` can then place such channels by
where their viewers spend their time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import igraph as ig
import numpy as np
import scipy.sparse as sp

from vieweratlas.config import Algorithm

UNCLUSTERED = -1
# Leiden passes: igraph's default, as the benchmark's floor calls it (-1, "until stable",
# costs 2-3x as much for the same NMI on the planted data of bench/bench_quality.py).
LEIDEN_ITERATIONS = 2


@dataclass(frozen=True)
class Partition:
    membership: np.ndarray  # int32 community per channel, 0..k-1 by size, or -1
    modularity: float
    merged: int  # small communities merged into a neighbour
    unclustered: int  # channels left in -1


class WeightedGraph(Protocol):
    """What detection needs of a graph: nodes 0..n-1 and weighted edges (the overlap
    result and the :class:`~vieweratlas.analysis.graph.ChannelGraph` both fit)."""

    @property
    def n(self) -> int: ...
    @property
    def src(self) -> np.ndarray: ...
    @property
    def dst(self) -> np.ndarray: ...
    @property
    def weight(self) -> np.ndarray: ...

    def adjacency(self) -> sp.csr_matrix: ...


@dataclass(frozen=True)
class EdgeList:
    """A bare :class:`WeightedGraph`: nodes ``0..n-1`` and weighted edges."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def adjacency(self) -> sp.csr_matrix:
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()


def build_graph(graph: WeightedGraph) -> ig.Graph:
    g = ig.Graph(n=graph.n, edges=edge_tuples(graph.src, graph.dst), directed=False)
    g.es["weight"] = np.asarray(graph.weight, dtype=np.float64).tolist()
    return g


def edge_tuples(src: np.ndarray, dst: np.ndarray) -> list[tuple[int, int]]:
    """Edges as igraph reads them fastest: a list of tuples of Python ints (a NumPy array
    is read element by element, 2.5x slower; a 2-D ``tolist`` 2x slower)."""
    return list(zip(src.tolist(), dst.tolist(), strict=True))


def detect(
    graph: WeightedGraph, *, algorithm: Algorithm, resolution: float, seed: int, min_size: int
) -> Partition:
    g = build_graph(graph)
    with igraph_seeded(seed):
        membership = cluster(g, algorithm=algorithm, resolution=resolution)
    return finish(g, graph.adjacency(), membership, resolution=resolution, min_size=min_size)


@contextmanager
def igraph_seeded(seed: int) -> Iterator[None]:
    """igraph draws from one process-wide generator (Python's ``random`` by default) and
    its Python API has no per-call seed; so the generator is swapped once, for a whole batch
    of runs, to a local seeded ``random.Random``, and put back afterwards."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def cluster(
    g: ig.Graph,
    *,
    algorithm: str,
    resolution: float,
    weights: str | list[float] = "weight",
    start: np.ndarray | None = None,
) -> np.ndarray:
    """One raw clustering of ``g`` (no merging or renumbering); call inside
    :func:`igraph_seeded` for reproducible results. ``start``: Leiden begins from this
    membership and makes one pass (a local re-optimisation, not a fresh search)."""
    if algorithm == "leiden":
        # igraph's own Leiden: same modularity as leidenalg here, ~15x faster.
        clusters = g.community_leiden(
            objective_function="modularity",
            weights=weights,
            resolution=resolution,
            n_iterations=LEIDEN_ITERATIONS if start is None else 1,
            initial_membership=None if start is None else start.tolist(),
        )
    elif algorithm == "louvain":
        clusters = g.community_multilevel(weights=weights, resolution=resolution)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    return np.asarray(clusters.membership, dtype=np.int64)


def finish(
    g: ig.Graph, adjacency: sp.csr_matrix, raw: np.ndarray, *, resolution: float, min_size: int
) -> Partition:
    """A raw clustering → :class:`Partition` (small ones merged, numbered by size)."""
    membership, merged = merge_small(adjacency, raw, min_size)
    membership = relabel_by_size(membership)
    unclustered = int((membership == UNCLUSTERED).sum())
    modularity = modularity_of(g, membership, resolution)
    return Partition(membership.astype(np.int32), modularity, merged, unclustered)


def merge_small(
    adjacency: sp.csr_matrix, membership: np.ndarray, min_size: int
) -> tuple[np.ndarray, int]:
    """Merge communities below ``min_size`` into their most strongly tied neighbour."""
    membership = membership.copy()
    merged = 0
    if min_size <= 1 or len(membership) == 0:
        return membership, merged
    while True:
        sizes = np.bincount(membership[membership >= 0], minlength=membership.max() + 1)
        small = np.flatnonzero((sizes > 0) & (sizes < min_size))
        if len(small) == 0:
            return membership, merged
        k = len(sizes)
        n = len(membership)
        assigned = membership >= 0
        onehot = sp.csr_matrix(
            (np.ones(int(assigned.sum())), (np.flatnonzero(assigned), membership[assigned])),
            shape=(n, k),
        )
        ties = (onehot.T @ adjacency @ onehot).toarray()  # k × k total edge weight
        np.fill_diagonal(ties, 0.0)
        progressed = False
        # Smallest first; targets may themselves be small and absorb more later.
        for c in small[np.argsort(sizes[small], kind="stable")]:
            if sizes[c] == 0:
                continue
            target = int(np.argmax(ties[c]))
            members = membership == c
            if ties[c, target] <= 0:
                membership[members] = UNCLUSTERED
            else:
                membership[members] = target
                ties[target] += ties[c]
                ties[:, target] += ties[:, c]
                ties[target, target] = 0.0
                sizes[target] += sizes[c]
                merged += 1
            ties[c] = 0.0
            ties[:, c] = 0.0
            sizes[c] = 0
            progressed = True
        if not progressed:
            return membership, merged


def relabel_by_size(membership: np.ndarray) -> np.ndarray:
    """Renumber communities 0..k-1, largest first (ties by lowest original id)."""
    out = np.full(len(membership), UNCLUSTERED, dtype=np.int64)
    assigned = membership >= 0
    if not assigned.any():
        return out
    ids, inverse, counts = np.unique(membership[assigned], return_inverse=True, return_counts=True)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.lexsort((ids, -counts))] = np.arange(len(ids))
    out[assigned] = rank[inverse]
    return out


def modularity_of(g: ig.Graph, membership: np.ndarray, resolution: float) -> float:
    if g.ecount() == 0:
        return 0.0
    m = membership.copy()
    loose = np.flatnonzero(m < 0)
    m[loose] = m.max(initial=-1) + 1 + np.arange(len(loose))  # each loose channel alone
    return float(g.modularity(m.tolist(), weights="weight", resolution=resolution))


def attach(matrix: sp.csr_matrix, membership: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Place unclustered channels in the community their viewers favour most.

    ``matrix`` is users × channels (same columns as ``membership``). For each channel with
    ``membership == -1``, count its viewers' presence in each community, subtract what the
    community's overall share would predict (so big communities don't win by size), and
    take the best positive excess. Returns (new membership, bool mask of attached channels).
    """
    membership = membership.copy()
    loose = np.flatnonzero(membership == UNCLUSTERED)
    attached = np.zeros(len(membership), dtype=bool)
    clustered = np.flatnonzero(membership >= 0)
    if len(loose) == 0 or len(clustered) == 0:
        return membership, attached
    b = matrix.astype(bool).astype(np.float64).tocsc()
    k = int(membership.max()) + 1
    onehot = sp.csr_matrix(
        (np.ones(len(clustered)), (np.arange(len(clustered)), membership[clustered])),
        shape=(len(clustered), k),
    )
    per_user = b[:, clustered] @ onehot  # users × k: presence of each user per community
    affinity = (b[:, loose].T @ per_user).toarray()  # loose × k
    share = np.asarray(per_user.sum(axis=0)).ravel()
    share = share / share.sum() if share.sum() else share
    excess = affinity - affinity.sum(axis=1, keepdims=True) * share
    best = np.argmax(excess, axis=1)
    ok = excess[np.arange(len(loose)), best] > 0
    membership[loose[ok]] = best[ok]
    attached[loose[ok]] = True
    return membership, attached
