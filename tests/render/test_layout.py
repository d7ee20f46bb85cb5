"""Layout: deterministic for a seed, communities visibly apart, edge cases handled."""

from __future__ import annotations

import numpy as np
import pytest
from render_graphs import Planted, planted_graph

from vieweratlas.render import compute_layout


def _layout(g: Planted, seed: int = 7) -> np.ndarray:
    return compute_layout(g.n, g.src, g.dst, g.weight, g.membership, seed=seed)


def test_same_seed_same_layout_other_seed_differs(planted: Planted) -> None:
    a, b, c = _layout(planted), _layout(planted), _layout(planted, seed=8)
    assert a.shape == (planted.n, 2)
    assert a.dtype == np.float64
    assert np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_communities_are_separated(seed: int) -> None:
    g = planted_graph(n=400, k=8, edges=5000, p_in=0.85, seed=seed)
    pos = _layout(g, seed=seed)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, g.n, 20_000), rng.integers(0, g.n, 20_000)
    dist = np.linalg.norm(pos[a] - pos[b], axis=1)
    same = (g.membership[a] == g.membership[b]) & (a != b)
    different = g.membership[a] != g.membership[b]
    assert dist[same].mean() < 0.5 * dist[different].mean()
    # Every community is an island: each node is nearer its own centroid than any other.
    k = int(g.membership.max()) + 1
    centroids = np.array([pos[g.membership == c].mean(0) for c in range(k)])
    nearest = np.linalg.norm(pos[:, None, :] - centroids[None], axis=2).argmin(1)
    assert (nearest == g.membership).mean() > 0.97


def test_unclustered_nodes_sit_near_their_neighbours() -> None:
    g = planted_graph(n=200, k=4, edges=2500, seed=3)
    membership = np.r_[g.membership, -1]  # node 200: no edge at all
    loose = np.unique(g.src)[:5]
    membership[loose] = -1
    pos = compute_layout(g.n + 1, g.src, g.dst, g.weight, membership, seed=1)
    assert np.isfinite(pos).all()
    clustered = membership >= 0
    spread = np.ptp(pos[clustered], axis=0).max()
    for node in loose:
        nbrs = np.r_[g.dst[g.src == node], g.src[g.dst == node]]
        nbrs = nbrs[clustered[nbrs]]
        # Near the middle of its clustered neighbours, not off somewhere random.
        assert np.linalg.norm(pos[node] - pos[nbrs].mean(0)) < 0.25 * spread
    centre = pos[clustered].mean(0)
    reach = np.linalg.norm(pos[clustered] - centre, axis=1).max()
    assert np.linalg.norm(pos[g.n] - centre) > reach  # the isolated node is on the rim


def test_edge_cases() -> None:
    empty = np.array([], dtype=np.int64)
    assert compute_layout(0, empty, empty, empty.astype(float), empty, seed=0).shape == (0, 2)
    one = compute_layout(1, empty, empty, empty.astype(float), np.array([0]), seed=0)
    assert one.shape == (1, 2)
    # No edges, nothing clustered: still distinct finite positions.
    pos = compute_layout(30, empty, empty, empty.astype(float), np.full(30, -1), seed=0)
    assert np.isfinite(pos).all()
    assert len({tuple(p) for p in pos.round(9)}) == 30
    # Self loops, zero and NaN weights are ignored, not fatal.
    src, dst = np.array([0, 1, 2]), np.array([0, 2, 3])
    weight = np.array([1.0, np.nan, 0.0])
    pos = compute_layout(4, src, dst, weight, np.array([0, 0, 1, 1]), seed=0)
    assert np.isfinite(pos).all()


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="membership"):
        compute_layout(3, np.array([0]), np.array([1]), np.array([1.0]), np.array([0]), seed=0)
    with pytest.raises(ValueError, match=r"0\.\.n-1"):
        compute_layout(2, np.array([0]), np.array([5]), np.array([1.0]), np.zeros(2), seed=0)
    with pytest.raises(ValueError, match="same length"):
        compute_layout(2, np.array([0]), np.array([1, 0]), np.array([1.0]), np.zeros(2), seed=0)
