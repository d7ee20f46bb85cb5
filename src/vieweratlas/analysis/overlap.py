"""The channel-overlap graph: ``Bᵀ·B`` on the binary viewer × channel matrix.

``shared[a, b]`` is the number of unique viewers channels ``a`` and ``b`` have in common.
Raw counts make the biggest channels hubs of everything, so detection uses a normalised
weight (cosine by default: ``shared / sqrt(n_a · n_b)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.backbone import expected_shared, significant, top_k_per_node
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
    cooccurrence: sp.csr_matrix | None = None  # shared viewers of every pair, upper triangle

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
    return replace(found, cooccurrence=upper)


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
    src = a.astype(np.int32)  # copies: never views of the caller's arrays
    dst = b.astype(np.int32)
    shared = shared.astype(np.int64)
    if not _sorted_pairs(src, dst):  # one canonical edge order, whoever counted
        order = np.lexsort((dst, src))
        src, dst, shared = src[order], dst[order], shared[order]
    if neighbours is not None:  # the significance test first: weights only for survivors
        expected = expected_shared(viewers[src], viewers[dst], users)
        sig = significant(shared, expected, neighbour_alpha)
        src, dst, shared, expected = src[sig], dst[sig], shared[sig], expected[sig]
    if pair_weight is not None:
        w = pair_weight(src, dst)
    else:
        w = normalise(shared, viewers[src], viewers[dst], weight, users)
    if alpha > 0:
        from scipy.stats import poisson  # slow to import; only this option needs it

        chance = viewers[src].astype(np.float64) * viewers[dst] / max(users, 1)
        sig = poisson.sf(shared - 1, chance) < alpha
        src, dst, shared, w = src[sig], dst[sig], shared[sig], w[sig]
        if neighbours is not None:
            expected = expected[sig]
    if neighbours is not None:
        pos = w > 0
        src, dst, shared, w, expected = src[pos], dst[pos], shared[pos], w[pos], expected[pos]
        # Rank by excess over chance whatever the detection weight is.
        excess = (shared - expected) / np.sqrt(viewers[src].astype(np.float64) * viewers[dst])
        chosen = top_k_per_node(src, dst, excess, len(viewers), neighbours)
        src, dst, shared, w = src[chosen], dst[chosen], shared[chosen], w[chosen]
        max_edges = None
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


def _sorted_pairs(src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether the pairs are already in (src, dst) order (``Bᵀ·B``'s CSR output is)."""
    if len(src) < 2:
        return True
    ds = np.diff(src.astype(np.int64))
    return bool(np.all((ds > 0) | ((ds == 0) & (np.diff(dst.astype(np.int64)) > 0))))


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
