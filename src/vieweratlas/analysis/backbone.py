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


def tail_bounds(shared: np.ndarray, alpha: float) -> np.ndarray:
    """Per shared count ``s`` (the table's index), the ``λ`` where ``P(X ≥ s) = alpha``
    (``P(X ≥ s)`` grows with ``λ``: a pair with count ``s`` passes iff its ``λ`` is below).
    Computed once per distinct count in ``shared`` (non-negative), zero for absent counts."""
    present = np.bincount(shared) if len(shared) else np.zeros(1, np.int64)
    counts = np.flatnonzero(present[1:]) + 1
    bound = np.zeros(len(present))
    bound[counts] = pdtri(counts - 1, 1.0 - alpha)
    return bound


def significant(
    shared: np.ndarray, expected: np.ndarray, alpha: float, bounds: np.ndarray | None = None
) -> np.ndarray:
    """Mask of pairs whose shared count is unlikely under Poisson(``expected``).

    ``P(X ≥ s) = pdtrc(s − 1, λ)``; computed only where ``s`` exceeds ``λ`` (the others
    cannot pass any ``alpha`` below one half), so the cost follows the candidate pairs.
    ``bounds``: :func:`tail_bounds` of these counts (or of any superset), when the caller
    tests many pieces of one set of pairs.
    """
    out = np.zeros(len(shared), dtype=bool)
    above = np.flatnonzero(shared > expected)
    if len(above):
        s, lam = shared[above], expected[above]
        # A count passes iff λ is below the count's own bound, found once per distinct
        # count; only pairs within a hair of their bound get the exact test.
        bound = tail_bounds(s, alpha) if bounds is None else bounds
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

    No global ranking: each (node, edge) entry of a node with more than ``k`` edges gets one
    integer key, the node then the score truncated to the bits left (an order-preserving
    image of the float: a smaller key is a strictly higher score). One sort of the keys
    gives each node's ``k``-th key; entries below it are in, above it out, and only the
    few entries equal to it (true ties and near ties) are ordered exactly (score, then edge).
    """
    e = len(src)
    if e == 0 or k <= 0:
        return np.zeros(e, dtype=bool)
    if not np.isfinite(score).all():
        return _top_k_by_rank(src, dst, score, n, k)
    degree = np.bincount(src, minlength=n)
    degree += np.bincount(dst, minlength=n)
    busy = degree > k  # a node with at most k edges keeps them all
    ends = (busy[src], busy[dst])
    keep: np.ndarray = ~(ends[0] & ends[1])
    if keep.all():
        return keep
    score_bits = 63 - max(1, int(n - 1).bit_length())
    bits = _descending_bits(score, score_bits)
    keys = []
    for node, on in zip((src, dst), ends, strict=True):
        key = node[on].astype(np.int64)
        key <<= score_bits
        key |= bits[on]
        keys.append(key)
    del bits
    ordered = np.concatenate(keys)
    ordered.sort()
    start = np.zeros(n + 1, np.int64)
    np.cumsum(np.where(busy, degree, 0), out=start[1:])
    kth = np.zeros(n, np.int64)
    kth[busy] = ordered[start[:-1][busy] + k - 1]
    # Places left for the tied entries: k minus the node's entries strictly above them.
    places = np.zeros(n, np.int64)
    places[busy] = k - (np.searchsorted(ordered, kth[busy]) - start[:-1][busy])
    del ordered
    tied_edge, tied_node = [], []
    for key, on in zip(keys, ends, strict=True):
        cut = kth[key >> score_bits]
        keep[on] |= key < cut
        at = np.flatnonzero(key == cut)
        tied_edge.append(np.flatnonzero(on)[at] if len(at) else at)
        tied_node.append(key[at] >> score_bits)
    tedge, tnode = np.concatenate(tied_edge), np.concatenate(tied_node)
    order = np.lexsort((tedge, -score[tedge], tnode))
    tnode, tedge = tnode[order], tedge[order]
    first = np.searchsorted(tnode, tnode)  # each tied entry's node's first tied entry
    keep[tedge[np.arange(len(tnode)) - first < places[tnode]]] = True
    return keep


def _descending_bits(score: np.ndarray, bits: int) -> np.ndarray:
    """int64 in ``[0, 2**bits)``, non-decreasing as ``score`` decreases (finite floats;
    ``-0.0`` and ``0.0`` alike): the top ``bits`` of the float's order-preserving image."""
    image = np.negative(np.asarray(score, dtype=np.float64))  # descending
    image += 0.0  # -0.0 becomes 0.0
    raw = image.view(np.int64)
    raw[raw < 0] ^= np.int64(0x7FFFFFFFFFFFFFFF)  # negative floats: magnitude reversed
    unsigned = raw.view(np.uint64)
    unsigned ^= np.uint64(1 << 63)  # signed order to unsigned order
    unsigned >>= np.uint64(64 - bits)
    out: np.ndarray = unsigned.view(np.int64)
    return out


def _top_k_by_rank(
    src: np.ndarray, dst: np.ndarray, score: np.ndarray, n: int, k: int
) -> np.ndarray:
    """:func:`top_k_per_node` by a global stable ranking (any float, NaN included)."""
    e = len(src)
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
