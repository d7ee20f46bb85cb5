"""Confidence in communities: how consistently a channel lands with its community.

One clustering is a point estimate. Here the graph is clustered once as it is (the
*reference*, the communities reported) and ``runs − 1`` more times with every edge weight
multiplied by independent Gamma noise of mean 1 (a Bayesian-bootstrap-like perturbation of
the audience counts, each run with the next draws of one seeded generator). Each perturbed
run starts from the reference and re-optimises it (Leiden from an initial membership, one
pass): it asks which channels move when the evidence is jittered, at a fraction of the
cost of a fresh search. Then:

- a channel's ``confidence`` is the mean, over the perturbed runs, of the Jaccard overlap
  between its reference community and the community it lands in that run (1: always with
  exactly the same channels; a channel that flips to another community scores near 0);
- a community's ``stability`` is the mean over runs of its best Jaccard match among that
  run's communities: the clusterwise stability of Hennig (2007), "Cluster-wise assessment
  of cluster stability", with weight noise instead of resampling viewers.

Leiden on a channel graph takes milliseconds, so ten runs cost a small multiple of one
(measured in ``bench/bench_analysis.py``). Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    Partition,
    WeightedGraph,
    build_graph,
    cluster,
    finish,
    igraph_seeded,
)

NOISE_SHAPE = 2.0  # Gamma shape of the weight noise (mean 1, coefficient of variation 0.71)


@dataclass(frozen=True)
class Consensus:
    partition: Partition  # the reference communities
    confidence: np.ndarray  # float64 per node, NaN for unclustered nodes
    stability: np.ndarray  # float64 per community id 0..k-1
    runs: int


def detect_with_confidence(
    graph: WeightedGraph,
    *,
    algorithm: str,
    resolution: float,
    seed: int,
    min_size: int,
    runs: int,
) -> Consensus:
    """Communities of ``graph`` (as :func:`~vieweratlas.analysis.communities.detect`) plus
    per-node confidence and per-community stability from ``runs − 1`` perturbed runs."""
    g = build_graph(graph)
    noise = np.random.default_rng(seed)
    perturbed: list[np.ndarray] = []
    with igraph_seeded(seed):
        raw = cluster(g, algorithm=algorithm, resolution=resolution)
        for _ in range(max(runs - 1, 0)):
            w = graph.weight * noise.gamma(NOISE_SHAPE, 1.0 / NOISE_SHAPE, len(graph.weight))
            perturbed.append(
                cluster(g, algorithm=algorithm, resolution=resolution, weights=list(w))
            )
    part = finish(g, graph.adjacency(), raw, resolution=resolution, min_size=min_size)
    confidence, stability = agreement(part.membership, perturbed)
    return Consensus(part, confidence, stability, max(runs, 1))


def agreement(reference: np.ndarray, others: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(per-node mean Jaccard with its reference community, per-community best-match
    Jaccard averaged over ``others``). Nodes with reference ``-1`` get NaN; with no other
    runs everything is 1."""
    n = len(reference)
    placed = reference >= 0
    k = int(reference.max(initial=-1)) + 1
    confidence = np.zeros(n)
    stability = np.zeros(k)
    ref = reference[placed].astype(np.int64)
    ref_size = np.bincount(ref, minlength=k)
    for other in others:
        o = np.unique(other[placed], return_inverse=True)[1].astype(np.int64)
        o_size = np.bincount(o)
        both = sp.coo_matrix((np.ones(len(ref)), (ref, o)), shape=(k, len(o_size))).tocsr()
        both.sum_duplicates()
        inter = np.asarray(both[ref, o]).ravel()
        confidence[placed] += inter / (ref_size[ref] + o_size[o] - inter)
        coo = both.tocoo()
        jac = coo.data / (ref_size[coo.row] + o_size[coo.col] - coo.data)
        best = np.zeros(k)
        np.maximum.at(best, coo.row, jac)
        stability += best
    if others:
        confidence /= len(others)
        stability /= len(others)
    else:
        confidence[:] = 1.0
        stability[:] = 1.0
    confidence[~placed] = np.nan
    return confidence, stability
