"""Confidence in communities: how consistently a channel lands with its community.

One clustering is a point estimate. Here the graph is clustered once (the communities
reported), and then the evidence is jittered ``runs`` times: every edge weight multiplied by
independent Gamma noise of mean 1 (a Bayesian-bootstrap-like perturbation of the audience
counts, each draw from one seeded generator). In each draw every channel takes the best
move Leiden's local phase would make — stay, or join the neighbouring community with the
largest modularity gain (``w_iX − γ·n_i·N_X``, node weights ``n = k/sqrt(2m)``) — all
channels at once, in one vectorised pass over the edges: it asks which channels would move
when the evidence wavers, for the cost of a few sparse sums instead of a Leiden run each.
Then:

- a channel's ``confidence`` is the share of draws in which it stays (1: no plausible
  jitter moves it; a channel torn between two communities scores near 0.5 or below);
- a community's ``stability`` is the mean over draws of its best Jaccard match among that
  draw's communities: the clusterwise stability of Hennig (2007), "Cluster-wise assessment
  of cluster stability", with weight noise instead of resampling viewers.

The score is taken on the communities as finally reported (after the viewer vote), so a
channel the vote moved away from its graph neighbours says so. Measured in
``bench/bench_quality.py`` (calibration) and ``bench/bench_analysis.py`` (cost).
Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    Partition,
    WeightedGraph,
    detect,
)

NOISE_SHAPE = 2.0  # Gamma shape of the weight noise (mean 1, coefficient of variation 0.71)

# Node weights of the quality a move is scored by, from the (jittered) edge weights.
NodeWeights = Callable[[np.ndarray], np.ndarray]


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
    per-node confidence and per-community stability from ``runs`` jittered draws."""
    part = detect(
        graph,
        algorithm=algorithm,  # type: ignore[arg-type]
        resolution=resolution,
        seed=seed,
        min_size=min_size,
    )
    confidence, stability = jitter_confidence(
        graph.n, graph.src, graph.dst, graph.weight, part.membership,
        resolution=resolution, seed=seed, runs=runs,
    )  # fmt: skip
    return Consensus(part, confidence, stability, max(runs, 1))


def modularity_weights(n: int, src: np.ndarray, dst: np.ndarray) -> NodeWeights:
    """Node weights ``k_i / sqrt(2m)``: the local moves of plain modularity."""

    def weights(w: np.ndarray) -> np.ndarray:
        k = np.bincount(src, w, minlength=n) + np.bincount(dst, w, minlength=n)
        total = k.sum()
        out: np.ndarray = k / np.sqrt(total) if total > 0 else k
        return out

    return weights


def jitter_confidence(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    membership: np.ndarray,
    *,
    resolution: float,
    seed: int,
    runs: int,
    node_weights: NodeWeights | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(per-node share of jittered draws it stays in its community, per-community
    stability); ``-1`` nodes get NaN. ``node_weights`` (default: modularity) turns a draw's
    edge weights into the node weights of the quality a move is scored by."""
    weigh = node_weights or modularity_weights(n, src, dst)
    rng = np.random.default_rng(seed)
    w = np.asarray(weight, dtype=np.float64)
    moves = LocalMoves(n, src, dst, membership)
    draws = [
        moves.best(w * rng.gamma(NOISE_SHAPE, 1 / NOISE_SHAPE, len(w)), weigh, resolution)
        for _ in range(max(runs, 0))
    ]
    placed = membership >= 0
    if not draws:
        confidence = np.where(placed, 1.0, np.nan)
        return confidence, np.ones(int(membership.max(initial=-1)) + 1)
    stays = np.mean([d == membership for d in draws], axis=0)
    confidence = np.where(placed, stays, np.nan)
    _, stability = agreement(membership, draws)
    return confidence, stability


class LocalMoves:
    """One simultaneous local move of every node of a partition, for any edge weights.

    The (node, neighbouring community) pairs are the same in every draw, so they are found
    once; a draw is then a weighted ``bincount`` and a per-node maximum."""

    def __init__(self, n: int, src: np.ndarray, dst: np.ndarray, membership: np.ndarray):
        self.n, self.membership = n, membership
        self.placed = membership >= 0
        self.k = int(membership.max(initial=-1)) + 1
        rows = np.concatenate([src, dst]).astype(np.int64)
        cols = np.concatenate([membership[dst], membership[src]]).astype(np.int64)
        ok = (cols >= 0) & self.placed[rows]
        self.half = np.flatnonzero(ok)  # half-edges that count, into concat(w, w)
        pair, self.inv = np.unique(rows[ok] * max(self.k, 1) + cols[ok], return_inverse=True)
        self.row, self.col = pair // max(self.k, 1), pair % max(self.k, 1)
        self.own = membership[self.row] == self.col
        self.starts = np.flatnonzero(np.r_[True, self.row[1:] != self.row[:-1]])

    def best(self, w: np.ndarray, weigh: NodeWeights, resolution: float) -> np.ndarray:
        """Each placed node's community after the move: its own, or the neighbouring
        community with the largest gain ``w_iX − γ·n_i·N_X`` if that beats staying
        (``N_X`` without the node itself; ties to the lowest id)."""
        out = self.membership.copy()
        if self.k == 0 or len(self.row) == 0:
            return out
        node_w = weigh(w)
        m, placed = self.membership, self.placed
        big = np.bincount(m[placed], node_w[placed], minlength=self.k)
        tie = np.bincount(self.inv, np.concatenate([w, w])[self.half], minlength=len(self.row))
        r, c = self.row, self.col
        score = tie - resolution * node_w[r] * (big[c] - np.where(self.own, node_w[r], 0.0))
        stay = np.full(self.n, -np.inf)
        # Staying with no tie left in one's community still pays the penalty of its size.
        mp = m[placed]
        stay[placed] = -resolution * node_w[placed] * (big[mp] - node_w[placed])
        stay[r[self.own]] = score[self.own]
        other = np.where(self.own, -np.inf, score)
        top = np.maximum.reduceat(other, self.starts)
        node = r[self.starts]
        go = top > stay[node]
        if go.any():
            # The first (lowest-id) community reaching each moving node's top score.
            hit = np.flatnonzero(
                (other == np.repeat(top, np.diff(np.r_[self.starts, len(r)])))
                & np.repeat(go, np.diff(np.r_[self.starts, len(r)]))
            )
            first = np.unique(r[hit], return_index=True)[1]
            out[r[hit][first]] = c[hit][first]
        return out


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
