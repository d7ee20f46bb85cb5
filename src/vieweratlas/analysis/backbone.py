"""Per-channel edge selection: each channel keeps its strongest ties that beat chance.

A global shared-viewer threshold treats a channel with 30 viewers and one with 30,000 alike:
set high enough to thin out the big ones, it strips every small channel of all its edges.
Here every channel chooses for itself, in two steps:

1. **Significance.** Under independence (viewers pick channels at random, in proportion to
   the channels' audiences), the number of viewers channels ``a`` and ``b`` share is about
   Poisson with mean ``λ = n_a·n_b / U`` (``U`` viewers in all). A pair is kept only if
   seeing ``shared`` or more is unlikely, ``P(X ≥ shared) < alpha``: one shared viewer is
   meaningful between two small channels and noise between two giants. This is the
   hypergeometric/Poisson filter of the noise-corrected backbone (Coscia & Neffke 2017,
   "Network Backboning with Noisy Data") in its simplest form.
2. **k nearest neighbours.** Among its significant pairs, each channel keeps the ``k`` with
   the highest excess over chance, ``(shared − λ)/sqrt(n_a·n_b)``; an edge stays if either
   end chose it (a union kNN graph, as in the single-cell neighbour graphs Leiden is run on).
   A channel with a few dozen viewers keeps its best few ties, a giant cannot hold more than
   its ``k`` plus those that smaller channels give it.

Chosen by measurement against a disparity filter (Serrano, Boguñá & Vespignani 2009) and the
old global budget on planted data (``bench/bench_quality.py``): the disparity filter keeps the
heavy-tailed giants' edges and still drops small channels; the union kNN keeps every channel
with any significant tie.
"""

from __future__ import annotations

import numpy as np
from scipy.special import pdtrc, pdtri


def expected_shared(na: np.ndarray, nb: np.ndarray, users: int) -> np.ndarray:
    """Shared viewers expected by chance: ``n_a·n_b / U``."""
    return na.astype(np.float64) * nb.astype(np.float64) / max(users, 1)


def significant(shared: np.ndarray, expected: np.ndarray, alpha: float) -> np.ndarray:
    """Mask of pairs whose shared count is unlikely under Poisson(``expected``).

    ``P(X ≥ s) = pdtrc(s − 1, λ)``; computed only where ``s`` exceeds ``λ`` (the others
    cannot pass any ``alpha`` below one half), so the cost follows the candidate pairs.
    """
    out = np.zeros(len(shared), dtype=bool)
    above = np.flatnonzero(shared > expected)
    if len(above):
        s, lam = shared[above], expected[above]
        # P(X ≥ s) grows with λ: a count passes iff λ is below the count's own bound, found
        # once per distinct count; only pairs within a hair of their bound get the exact test.
        counts = np.unique(s)
        bound = np.zeros(int(counts[-1]) + 1)
        bound[counts] = pdtri(counts - 1, 1.0 - alpha)
        edge = bound[s]
        ok = lam < edge * (1 - 1e-6)
        near = np.flatnonzero(np.abs(lam - edge) <= edge * 1e-6)
        ok[near] = pdtrc(s[near] - 1.0, lam[near]) < alpha
        out[above] = ok
    return out


def top_k_per_node(
    src: np.ndarray, dst: np.ndarray, score: np.ndarray, n: int, k: int
) -> np.ndarray:
    """Mask of edges among the ``k`` highest-scoring of either endpoint (union kNN).

    Ties are broken by edge order, so the result is deterministic.
    """
    e = len(src)
    if e == 0 or k <= 0:
        return np.zeros(e, dtype=bool)
    # One integer key per (node, edge): the node, then the edge's rank by score (best
    # first, ties by edge order); one sort of the keys replaces a three-key lexsort.
    by_score = np.argsort(-score, kind="stable")
    rank_of = np.empty(e, dtype=np.int64)
    rank_of[by_score] = np.arange(e)
    key = np.sort(
        np.concatenate([src.astype(np.int64) * e + rank_of, dst.astype(np.int64) * e + rank_of])
    )
    node = key // e
    first = np.searchsorted(node, np.arange(n))
    within = np.arange(2 * e) - first[node]
    keep = np.zeros(e, dtype=bool)
    keep[by_score[key[within < k] % e]] = True
    return keep


def disparity(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int, alpha: float
) -> np.ndarray:
    """Mask of edges significant for either endpoint under the disparity filter.

    Serrano, Boguñá & Vespignani (2009), "Extracting the multiscale backbone of complex
    weighted networks": edge ``(i, j)`` is kept if ``(1 − p_ij)^(k_i − 1) < alpha`` with
    ``p_ij = w_ij / s_i``, for ``i`` or ``j``. Kept for comparison in the benchmark.
    """
    w = np.maximum(weight, 0.0)
    strength = np.bincount(src, w, minlength=n) + np.bincount(dst, w, minlength=n)
    degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    keep = np.zeros(len(src), dtype=bool)
    for a in (src, dst):
        p = np.divide(w, strength[a], out=np.zeros_like(w), where=strength[a] > 0)
        kk = degree[a]
        pval = np.where(kk > 1, (1.0 - p) ** np.maximum(kk - 1, 1), 1.0)
        keep |= (pval < alpha) | (kk == 1)
    return keep
