"""The channel-overlap graph: ``Bᵀ·B`` on the binary viewer × channel matrix.

``shared[a, b]`` is the number of unique viewers channels ``a`` and ``b`` have in common.
Raw counts make the biggest channels hubs of everything, so detection uses a normalised
weight (cosine by default: ``shared / sqrt(n_a · n_b)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import poisson


@dataclass(frozen=True)
class Overlap:
    """Undirected edges ``src < dst`` over channel indices, and each channel's viewers."""

    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    shared: np.ndarray  # int64 unique shared viewers
    weight: np.ndarray  # float64 normalised weight
    viewers: np.ndarray  # int64 unique viewers per channel
    pairs_with_any_overlap: int  # edges before the threshold

    @property
    def n(self) -> int:
        return len(self.viewers)

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric weighted adjacency (n × n)."""
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()


def select_channels(
    matrix: sp.csr_matrix, *, min_viewers: int, max_channels: int
) -> np.ndarray:
    """Indices of channels kept: at least ``min_viewers`` unique viewers, the biggest first."""
    viewers = np.diff(matrix.tocsc().indptr)
    eligible = np.flatnonzero(viewers >= min_viewers)
    if len(eligible) > max_channels:
        order = np.lexsort((eligible, -viewers[eligible]))
        eligible = np.sort(eligible[order[:max_channels]])
    return eligible


def overlap(
    matrix: sp.csr_matrix, *, threshold: int, weight: str, alpha: float = 0.0
) -> Overlap:
    """Edges between the columns of ``matrix`` (users × channels; any value > 0 = present)."""
    b = matrix.astype(bool).astype(np.int32)
    b.eliminate_zeros()
    viewers = np.asarray(b.sum(axis=0)).ravel().astype(np.int64)
    bt = b.T.tocsr()
    co = sp.triu(bt @ b, k=1).tocoo()  # upper triangle: each pair once, no diagonal
    keep = co.data >= threshold
    src = co.row[keep].astype(np.int32)
    dst = co.col[keep].astype(np.int32)
    shared = co.data[keep].astype(np.int64)
    users = int((np.diff(b.indptr) > 0).sum())
    w = normalise(shared, viewers[src], viewers[dst], weight, users)
    if alpha > 0:
        expected = viewers[src].astype(np.float64) * viewers[dst] / max(users, 1)
        sig = poisson.sf(shared - 1, expected) < alpha
        src, dst, shared, w = src[sig], dst[sig], shared[sig], w[sig]
    if weight == "excess":
        pos = w > 0
        src, dst, shared, w = src[pos], dst[pos], shared[pos], w[pos]
    return Overlap(
        src=src,
        dst=dst,
        shared=shared,
        weight=w,
        viewers=viewers,
        pairs_with_any_overlap=int(co.nnz),
    )


def normalise(
    shared: np.ndarray, na: np.ndarray, nb: np.ndarray, kind: str, users: int
) -> np.ndarray:
    s = shared.astype(np.float64)
    if kind == "excess":
        expected = na.astype(np.float64) * nb / max(users, 1)
        return (s - expected) / np.sqrt(na.astype(np.float64) * nb)
    if kind == "cosine":
        return s / np.sqrt(na.astype(np.float64) * nb)
    if kind == "jaccard":
        return s / (na + nb - s)
    if kind == "shared":
        return s
    raise ValueError(f"unknown weight {kind!r}")
