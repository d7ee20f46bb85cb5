"""The channel-overlap graph: ``Bᵀ·B`` on the binary viewer × channel matrix.

``shared[a, b]`` is the number of unique viewers channels ``a`` and ``b`` have in common.
Raw counts make the biggest channels hubs of everything, so detection uses a normalised
weight (cosine by default: ``shared / sqrt(n_a · n_b)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.backbone import significant, tail_bounds, top_k_per_node
from vieweratlas.config import AnalysisSettings, Weight


@dataclass(frozen=True)
class Overlap:
    """Undirected edges ``src < dst`` over channel indices, and each channel's viewers."""

    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    shared: np.ndarray  # int64 unique shared viewers
    weight: np.ndarray  # float64 normalised weight
    viewers: np.ndarray  # int64 unique viewers per channel
    pairs_with_any_overlap: int  # edges before the threshold
    threshold: int = 1  # the shared-viewer threshold in effect (may be raised by a budget)

    @property
    def n(self) -> int:
        return len(self.viewers)

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric weighted adjacency (n × n)."""
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()


def select_channels(matrix: sp.csr_matrix, *, min_viewers: int, max_channels: int) -> np.ndarray:
    """Indices of channels kept: at least ``min_viewers`` unique viewers, the biggest first."""
    viewers = np.diff(matrix.tocsc().indptr)
    eligible = np.flatnonzero(viewers >= min_viewers)
    if len(eligible) > max_channels:
        order = np.lexsort((eligible, -viewers[eligible]))
        eligible = np.sort(eligible[order[:max_channels]])
    return eligible


def edge_options(cfg: AnalysisSettings, channels: int) -> dict[str, Any]:
    """The settings' edge selection as :func:`select_edges` arguments (one place, so every
    engine chooses edges alike)."""
    per_channel = cfg.edge_selection == "neighbours"
    return {
        "threshold": cfg.overlap_threshold,
        "weight": cfg.weight,
        "alpha": cfg.significance,
        "max_edges": None if per_channel else (cfg.max_edges_per_channel * channels or None),
        "neighbours": cfg.neighbours if per_channel else None,
        "neighbour_alpha": cfg.neighbour_significance,
    }


def overlap(
    matrix: sp.csr_matrix,
    *,
    threshold: int,
    weight: Weight,
    alpha: float = 0.0,
    max_edges: int | None = None,
    neighbours: int | None = None,
    neighbour_alpha: float = 0.1,
    loyalty_cap: int | None = None,
) -> Overlap:
    """Edges between the columns of ``matrix`` (users × channels; snapshot counts > 0).

    Counting (``Bᵀ·B``) is here; which pairs become edges is :func:`select_edges`, shared
    with the Spark engine so both engines choose edges with the same code.
    ``loyalty_cap``: weigh a viewer's tie to a channel by ``min(snapshots, cap)/cap`` in
    the edge weight (drive-by visits count less); ``shared`` stays unique viewers.
    """
    b = matrix.astype(bool).astype(np.int32)
    b.eliminate_zeros()
    viewers = np.asarray(b.sum(axis=0)).ravel().astype(np.int64)
    bt = b.T.tocsr()
    upper = sp.triu(bt @ b, k=1, format="csr")  # upper triangle: each pair once, no diagonal
    upper.sort_indices()
    rows = np.repeat(np.arange(upper.shape[0], dtype=np.int32), np.diff(upper.indptr))
    users = int((np.diff(b.indptr) > 0).sum())
    weigh = None
    if loyalty_cap:

        def weigh(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
            return _loyal_weight(matrix, src, dst, weight, loyalty_cap)

    found = select_edges(
        rows,
        upper.indices,
        upper.data,
        viewers,
        users=users,
        pairs=int(upper.nnz),
        threshold=threshold,
        weight=weight,
        alpha=alpha,
        max_edges=max_edges,
        neighbours=neighbours,
        neighbour_alpha=neighbour_alpha,
        pair_weight=weigh,
    )
    return found


def select_edges(
    a: np.ndarray,
    b: np.ndarray,
    shared: np.ndarray,
    viewers: np.ndarray,
    *,
    users: int,
    pairs: int,
    threshold: int,
    weight: Weight,
    alpha: float = 0.0,
    max_edges: int | None = None,
    neighbours: int | None = None,
    neighbour_alpha: float = 0.1,
    pair_weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Overlap:
    """Edges from pair counts (``a < b`` channel indices, ``shared`` viewers; pairs below
    ``threshold`` may already be left out). ``users`` is the number of viewers of any of the
    channels (for what chance predicts); ``pairs`` the pairs sharing at least one viewer.

    Edges need ``threshold`` shared viewers. Then either:

    - ``neighbours=k`` (the default selection): every channel keeps its ``k`` strongest
      ties among those beyond chance (:mod:`vieweratlas.analysis.backbone`), or
    - ``max_edges``: the threshold is raised to the smallest value that keeps at most that
      many edges (a global budget: small channels lose every edge first).

    ``pair_weight(src, dst)``, if given, replaces the weight computed from ``shared``
    (loyalty weighting needs the matrix, which only the local engine holds).
    """
    if threshold > 1 or (len(shared) and shared.min() < threshold):
        keep = shared >= threshold
        a, b, shared = a[keep], b[keep], shared[keep]
    a, b, shared = _canonical(a, b, shared)  # one edge order, whoever counted
    if neighbours is not None:
        return _neighbour_edges(
            a,
            b,
            shared,
            viewers,
            users=users,
            pairs=pairs,
            threshold=threshold,
            weight=weight,
            alpha=alpha,
            neighbours=neighbours,
            neighbour_alpha=neighbour_alpha,
            pair_weight=pair_weight,
        )
    src = a.astype(np.int32)  # copies: never views of the caller's arrays
    dst = b.astype(np.int32)
    shared = shared.astype(np.int64)
    if pair_weight is not None:
        w = pair_weight(src, dst)
    else:
        w = normalise(shared, viewers[src], viewers[dst], weight, users)
    if alpha > 0:
        from scipy.stats import poisson  # slow to import; only this option needs it

        chance = viewers[src].astype(np.float64) * viewers[dst] / max(users, 1)
        sig = poisson.sf(shared - 1, chance) < alpha
        src, dst, shared, w = src[sig], dst[sig], shared[sig], w[sig]
    if weight == "excess":
        pos = w > 0
        src, dst, shared, w = src[pos], dst[pos], shared[pos], w[pos]
    if max_edges is not None and len(shared) > max_edges:
        at_least = np.bincount(shared)[::-1].cumsum()[::-1]  # edges with shared >= t
        threshold = (
            int(np.argmax(at_least <= max_edges)) if at_least[-1] <= max_edges else (len(at_least))
        )
        keep = shared >= threshold
        src, dst, shared, w = src[keep], dst[keep], shared[keep], w[keep]
    return Overlap(
        src=src,
        dst=dst,
        shared=shared,
        weight=w,
        viewers=viewers,
        pairs_with_any_overlap=pairs,
        threshold=threshold,
    )


_BLOCK = 1 << 21  # pairs tested at a time: every temporary stays a few MB


def _neighbour_edges(
    a: np.ndarray,
    b: np.ndarray,
    shared: np.ndarray,
    viewers: np.ndarray,
    *,
    users: int,
    pairs: int,
    threshold: int,
    weight: Weight,
    alpha: float,
    neighbours: int,
    neighbour_alpha: float,
    pair_weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> Overlap:
    """The ``neighbours`` selection on canonical pairs: the significance test (and the
    ``alpha`` test) block by block, weights and ranking scores only for the survivors,
    then the per-channel top ``neighbours``. Every float is computed by the same operations
    as in :func:`normalise` and :func:`~vieweratlas.analysis.backbone.expected_shared`, so
    the edges do not depend on the block size."""
    scale = np.asarray(viewers, dtype=np.float64)
    chance_of = max(users, 1)
    bounds = tail_bounds(shared, neighbour_alpha)
    survives = np.zeros(len(shared), dtype=bool)
    weights: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for lo in range(0, len(shared), _BLOCK):
        s, sa, sb = shared[lo : lo + _BLOCK], a[lo : lo + _BLOCK], b[lo : lo + _BLOCK]
        product = scale[sa]
        product *= scale[sb]  # n_a·n_b, as expected_shared computes it
        expected = product / chance_of
        at = np.flatnonzero(significant(s, expected, neighbour_alpha, bounds))
        s, product, expected = s[at], product[at], expected[at]
        if alpha > 0:
            from scipy.stats import poisson  # slow to import; only this option needs it

            also = np.flatnonzero(poisson.sf(s - 1, expected) < alpha)
            at, s, product, expected = at[also], s[also], product[also], expected[also]
        root = np.sqrt(product)
        # Rank by excess over chance whatever the detection weight is.
        score = (s - expected) / root
        if pair_weight is None:
            w = _survivor_weight(s, root, score, scale[sa[at]], scale[sb[at]], weight)
            pos = np.flatnonzero(w > 0)
            at, w, score = at[pos], w[pos], score[pos]
            weights.append(w)
        survives[lo + at] = True
        scores.append(score)
    src, dst, shared = a[survives], b[survives], shared[survives]
    src, dst = src.astype(np.int32, copy=False), dst.astype(np.int32, copy=False)
    score = np.concatenate(scores) if scores else np.zeros(0)
    if pair_weight is None:
        w = np.concatenate(weights) if weights else np.zeros(0)
    else:
        w = np.asarray(pair_weight(src, dst), dtype=np.float64)
        pos = np.flatnonzero(w > 0)
        src, dst, shared, w, score = src[pos], dst[pos], shared[pos], w[pos], score[pos]
    chosen = np.flatnonzero(top_k_per_node(src, dst, score, len(viewers), neighbours))
    return Overlap(
        src=src[chosen],
        dst=dst[chosen],
        shared=shared[chosen].astype(np.int64),
        weight=w[chosen],
        viewers=viewers,
        pairs_with_any_overlap=pairs,
        threshold=threshold,
    )


def _survivor_weight(
    s: np.ndarray,
    root: np.ndarray,
    excess: np.ndarray,
    na: np.ndarray,
    nb: np.ndarray,
    kind: Weight,
) -> np.ndarray:
    """:func:`normalise` given what the significance test already computed (``root`` =
    ``sqrt(n_a·n_b)``, ``excess`` = the excess weight), operation for operation."""
    out: np.ndarray
    if kind == "excess":
        out = excess
    elif kind == "cosine":
        out = s / root
    elif kind == "jaccard":
        out = s / (na + nb - s)
    elif kind == "shared":
        out = s.astype(np.float64)
    else:
        raise ValueError(f"unknown weight {kind!r}")
    return out


def _canonical(
    a: np.ndarray, b: np.ndarray, shared: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs in (a, b) order, each pair's count with it.

    When the three fit one int64 (``a``, ``b`` and the count side by side: 17 + 17 + the
    count's bits at 100,000 channels), one in-place sort of those integers replaces the
    lexsort; with repeated pairs (which counting never makes) the lexsort keeps their order.
    """
    if _sorted_pairs(a, b):
        return a, b, shared
    integers = all(
        np.issubdtype(x.dtype, np.integer) and np.can_cast(x.dtype, np.int64)
        for x in (a, b, shared)
    )
    if integers and len(a) and min(a.min(), b.min(), shared.min()) >= 0:
        node_bits = int(max(a.max(), b.max())).bit_length()
        count_bits = max(1, int(shared.max()).bit_length())
        if 2 * node_bits + count_bits <= 63:
            packed = a.astype(np.int64)
            packed <<= node_bits
            packed |= b
            packed <<= count_bits
            packed |= shared
            packed.sort()
            pair = packed >> count_bits
            if not np.any(pair[1:] == pair[:-1]):
                return (
                    (pair >> node_bits).astype(a.dtype),
                    (pair & ((1 << node_bits) - 1)).astype(b.dtype),
                    (packed & ((1 << count_bits) - 1)).astype(shared.dtype),
                )
    order = np.lexsort((b, a))
    return a[order], b[order], shared[order]


def _sorted_pairs(src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether the pairs are already in (src, dst) order (``Bᵀ·B``'s CSR output is)."""
    if len(src) < 2:
        return True
    up = src[1:] > src[:-1]
    return bool(np.all(up | (src[1:] == src[:-1]) & (dst[1:] > dst[:-1])))


def loyalty_weights(matrix: sp.spmatrix, cap: int) -> sp.csc_matrix:
    """users × channels ``min(snapshots, cap) / cap``: a viewer seen once weighs ``1/cap``."""
    w = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
    np.minimum(w.data, cap, out=w.data)
    w.data /= cap
    return w


def _loyal_weight(
    matrix: sp.csr_matrix, src: np.ndarray, dst: np.ndarray, kind: Weight, cap: int
) -> np.ndarray:
    """``normalise`` on loyalty-weighted co-presence ``Σ_u w_ua·w_ub`` for the pairs given."""
    w = loyalty_weights(matrix, cap)
    mass = np.asarray(w.sum(axis=0)).ravel()
    co = (w.T.tocsr() @ w).tocsr()
    pair = np.asarray(co[src, dst]).ravel()
    # Chance: E[Σ_u w_ua·w_ub] ≈ mass_a·mass_b / U, as n_a·n_b / U for plain presence.
    users = int((np.diff(w.tocsr().indptr) > 0).sum())
    return normalise(pair, mass[src], mass[dst], kind, users)


def normalise(
    shared: np.ndarray, na: np.ndarray, nb: np.ndarray, kind: Weight, users: int
) -> np.ndarray:
    s = shared.astype(np.float64)
    a, b = na.astype(np.float64), nb.astype(np.float64)
    out: np.ndarray
    if kind == "excess":
        out = (s - a * b / max(users, 1)) / np.sqrt(a * b)
    elif kind == "cosine":
        out = s / np.sqrt(a * b)
    elif kind == "jaccard":
        out = s / (a + b - s)
    elif kind == "shared":
        out = s
    else:
        raise ValueError(f"unknown weight {kind!r}")
    return out
