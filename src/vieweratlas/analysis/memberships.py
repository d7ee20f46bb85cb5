"""Overlapping membership: which communities a channel's audience actually spends time in.

For channel ``c`` and community ``X``, the *attention* ``a[c, X]`` is the presence its
viewers give to ``X``'s channels (other than ``c``): ``Wᵀ·(W·M)`` with ``W`` the users ×
channels incidence (binary, or loyalty weights) and ``M`` the channels × communities
one-hot. Chance predicts ``a[c, ·]`` in proportion to each community's share of all
presence; the *excess* over that is the audience tie beyond chance, and a channel's
``share`` in ``X`` is ``X``'s part of its total positive excess. A community with
``share ≥ min_share`` is a significant membership; a channel with two or more is a
**bridge** (a variety streamer, a bilingual channel). The same excess places channels that
have no edge of their own (where their viewers' attention goes, beyond chance).

With presence weighting, ``Wᵀ·W`` is the shared-viewer count of every pair, which the
overlap step has already computed: :func:`excess_from_cooccurrence` gets the same attention
as ``C·M`` for the cost of a product with the (channels × channels) counts, so the viewer
vote and the sub-community vote never multiply the incidence again; only the noise scale
of the final memberships needs the incidence (:func:`attention_noise`).

Without an incidence (engines that keep only the graph), the edges' shared viewers stand in
for the attention, with chance given by each community's share of all shared viewers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis.communities import UNCLUSTERED


@dataclass(frozen=True)
class Memberships:
    channel: np.ndarray  # int64 node index, one row per significant (channel, community)
    community: np.ndarray  # int32
    share: np.ndarray  # float64, share of the channel's excess attention
    bridge: np.ndarray  # bool per node: two or more significant communities


def excess_attention(
    incidence: sp.spmatrix, membership: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """channels × communities (attention beyond chance, its noise scale). The noise is
    ``sqrt(Σ_u w_uc·a_uX²)`` (``a_uX``: viewer ``u``'s presence in ``X``), so a handful of
    busy viewers cannot make a channel look tied to a community."""
    w = sp.csr_matrix(incidence, dtype=np.float64)  # CSR: W·M is 9x faster than from CSC
    n = w.shape[1]
    placed, onehot = _onehot(membership, n)
    per_user = (w @ onehot).tocsr()  # users × k
    # (W·M)ᵀ·W, k × channels: streams W's rows into a short accumulator (faster than Wᵀ·(W·M))
    attention = (per_user.T.tocsr() @ w).toarray().T
    # A viewer's presence in c itself is not attention to c's community.
    own = np.asarray(w.multiply(w).sum(axis=0)).ravel()
    attention[placed, membership[placed]] -= own[placed]
    total = np.asarray(per_user.sum(axis=0)).ravel()
    return _beyond_chance(attention, total), _noise(w, per_user)


def excess_from_cooccurrence(
    upper: sp.spmatrix, mass: np.ndarray, membership: np.ndarray
) -> np.ndarray:
    """:func:`excess_attention`'s excess from ``Wᵀ·W`` (``upper``: its upper triangle
    without the diagonal; ``mass``: each channel's column sum of ``W``): ``C·M`` is the
    attention, with no product over viewers."""
    u = sp.csr_matrix(upper, dtype=np.float64)
    placed, onehot = _onehot(membership, u.shape[0])
    attention = (u @ onehot).toarray() + (u.T @ onehot).toarray()
    total = np.bincount(membership[placed], weights=mass[placed], minlength=onehot.shape[1])
    return _beyond_chance(attention, total)


def attention_noise(
    incidence: sp.spmatrix, membership: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The noise scale of :func:`excess_attention` alone, and (from the same pass over the
    viewers) each community's unique viewers: those with any presence in it."""
    w = sp.csr_matrix(incidence, dtype=np.float64)
    _, onehot = _onehot(membership, w.shape[1])
    per_user = (w @ onehot).tocsr()
    reach = np.bincount(per_user.indices[per_user.data > 0], minlength=onehot.shape[1])
    return _noise(w, per_user), reach


def _onehot(membership: np.ndarray, n: int) -> tuple[np.ndarray, sp.csr_matrix]:
    k = int(membership.max(initial=-1)) + 1
    placed = np.flatnonzero(membership >= 0)
    onehot = sp.csr_matrix((np.ones(len(placed)), (placed, membership[placed])), shape=(n, k))
    return placed, onehot


def _beyond_chance(attention: np.ndarray, total: np.ndarray) -> np.ndarray:
    p = total / total.sum() if total.sum() > 0 else total
    excess: np.ndarray = attention - attention.sum(axis=1, keepdims=True) * p
    return excess


def _noise(w: sp.csr_matrix, per_user: sp.csr_matrix) -> np.ndarray:
    squared = per_user.multiply(per_user).T.tocsr()  # k × users
    noise: np.ndarray = np.sqrt((squared @ w).toarray().T) + 1.0
    return noise


def excess_from_edges(
    n: int, src: np.ndarray, dst: np.ndarray, shared: np.ndarray, membership: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The edge-only stand-in for :func:`excess_attention`."""
    k = int(membership.max(initial=-1)) + 1
    attention = np.zeros((n, k))
    s = shared.astype(np.float64)
    for a, b in ((src, dst), (dst, src)):
        ok = membership[b] >= 0
        np.add.at(attention, (a[ok], membership[b][ok]), s[ok])
    total = attention.sum(axis=0)
    p = total / total.sum() if total.sum() > 0 else total
    excess: np.ndarray = attention - attention.sum(axis=1, keepdims=True) * p
    return excess, np.sqrt(attention) + 1.0


def place(excess: np.ndarray, membership: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channels with ``membership == -1`` go where their excess attention is largest (if
    positive). Returns (new membership, bool mask of channels placed this way)."""
    membership = membership.copy()
    loose = np.flatnonzero(membership == UNCLUSTERED)
    placed = np.zeros(len(membership), dtype=bool)
    if len(loose) == 0 or excess.shape[1] == 0:
        return membership, placed
    best = np.argmax(excess[loose], axis=1)
    ok = excess[loose, best] > 0
    membership[loose[ok]] = best[ok]
    placed[loose[ok]] = True
    return membership, placed


def refine(
    excess: np.ndarray, noise: np.ndarray, membership: np.ndarray, *, min_z: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """One vote over all of each channel's viewers: a placed channel whose attention goes
    to another community clearly more (by ``min_z`` noise units) moves there. The graph's
    edges are a channel's strongest few ties; its viewers are all of them. Returns (new
    membership, bool mask of channels moved)."""
    membership = membership.copy()
    placed = np.flatnonzero(membership >= 0)
    moved = np.zeros(len(membership), dtype=bool)
    if len(placed) == 0 or excess.shape[1] < 2:
        return membership, moved
    best = np.argmax(excess[placed], axis=1)
    current = membership[placed]
    gain = excess[placed, best] - excess[placed, current]
    go = (best != current) & (gain > min_z * noise[placed, best])
    membership[placed[go]] = best[go]
    moved[placed[go]] = True
    return membership, moved


def memberships(
    excess: np.ndarray,
    noise: np.ndarray,
    membership: np.ndarray,
    *,
    min_share: float,
    min_z: float = 1.0,
) -> Memberships:
    """Significant (channel, community, share) rows: share ≥ ``min_share`` and excess ≥
    ``min_z`` noise units. A channel's own community is always listed when it is placed.

    ``share`` is a community's part of the channel's excess attention *to communities it
    is measurably tied to* (excess ≥ one noise unit, and its own community): with many
    communities, the small chance-level excesses of all the others would otherwise dilute
    every share (measured on the planted generator: bridge recall 0.73 → 0.9 at 20,000
    channels, 166 communities, precision ≥ 0.9 at every size)."""
    n = len(membership)
    placed = np.flatnonzero(membership >= 0)
    tied = excess >= noise
    tied[placed, membership[placed]] = True
    positive = np.where(tied, np.maximum(excess, 0.0), 0.0)
    total = positive.sum(axis=1, keepdims=True)
    share = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)
    significant = (share >= min_share) & (excess >= min_z * noise)
    significant[placed, membership[placed]] = True
    rows, cols = np.nonzero(significant)
    bridge = np.bincount(rows, minlength=n) >= 2
    return Memberships(
        channel=rows.astype(np.int64),
        community=cols.astype(np.int32),
        share=share[rows, cols],
        bridge=bridge,
    )
