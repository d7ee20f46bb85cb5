"""Layout: deterministic for a seed, communities visibly apart, edge cases handled."""

from __future__ import annotations

import numpy as np
import pytest
from render_graphs import Planted, heavy_tailed_graph, planted_graph

from vieweratlas.render import compute_layout, previous_positions
from vieweratlas.render.layout import node_keys, previous_positions_of


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


# ---- 5,000 channels in 8 communities with hubs: filled regions, visible ties, stability ----


@pytest.fixture(scope="module")
def big() -> Planted:
    return heavy_tailed_graph()


@pytest.fixture(scope="module")
def big_pos(big: Planted) -> np.ndarray:
    return _layout(big, seed=3)


def _radii(pos: np.ndarray, members: np.ndarray) -> np.ndarray:
    p = pos[members]
    r = np.linalg.norm(p - np.median(p, axis=0), axis=1)
    return r / r.max()


def test_members_fill_their_community_region(big: Planted, big_pos: np.ndarray) -> None:
    # A uniformly filled disc has 25 % of its points within half the radius and 19 % in
    # the outer tenth; a ring (members piled on the rim) has almost none inside and most
    # in the outer tenth.
    for c in range(8):
        r = _radii(big_pos, np.flatnonzero(big.membership == c))
        assert (r < 0.5).mean() >= 0.2, c
        assert (r > 0.9).mean() <= 0.25, c


def test_communities_sit_by_their_ties_and_links_between_them_show(
    big: Planted, big_pos: np.ndarray
) -> None:
    k = 8
    centroids = np.array([np.median(big_pos[big.membership == c], axis=0) for c in range(k)])
    # The planted community graph is a ring c — c±1: tied pairs sit closer than untied ones.
    gap = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
    tied = np.zeros((k, k), dtype=bool)
    for c in range(k):
        tied[c, (c + 1) % k] = tied[(c + 1) % k, c] = True
    untied = ~tied & ~np.eye(k, dtype=bool)
    assert gap[tied].mean() < gap[untied].mean()
    # Communities are separate islands (each node nearest its own centroid) …
    nearest = np.linalg.norm(big_pos[:, None] - centroids[None], axis=2).argmin(1)
    assert (nearest == big.membership).mean() > 0.97
    # … with the links between them long enough to tell from the links inside, yet not
    # stretched across the whole map.
    length = np.linalg.norm(big_pos[big.src] - big_pos[big.dst], axis=1)
    inside = big.membership[big.src] == big.membership[big.dst]
    extent = np.ptp(big_pos, axis=0).max()
    assert np.median(length[~inside]) > 1.5 * np.median(length[inside])
    assert np.median(length[~inside]) < 0.6 * extent


def test_same_seed_same_positions_with_and_without_previous(big: Planted) -> None:
    small = heavy_tailed_graph(n=800, k=5, edges=8000, seed=4)
    keys = [f"c{i}" for i in range(small.n)]
    a = _layout(small, seed=2)
    previous = previous_positions(keys, a[:, 0], a[:, 1])
    b = compute_layout(small.n, small.src, small.dst, small.weight, small.membership,
                       seed=2, previous=previous, keys=keys)  # fmt: skip
    c = compute_layout(small.n, small.src, small.dst, small.weight, small.membership,
                       seed=2, previous=previous, keys=keys)  # fmt: skip
    assert np.array_equal(b, c)
    assert np.array_equal(a, _layout(small, seed=2))


def _adjacent_window(g: Planted, seed: int) -> tuple[Planted, np.ndarray]:
    """The same channels a window later: 15 % of links gone, weights jittered, some channels
    new (their old identity unknown), community ids renumbered."""
    rng = np.random.default_rng(seed)
    keep = rng.random(g.src.size) > 0.15
    weight = g.weight[keep] * rng.uniform(0.7, 1.3, keep.sum())
    k = int(g.membership.max()) + 1
    later = Planted(g.n, g.src[keep], g.dst[keep], weight, g.shared[keep],
                    rng.permutation(k)[g.membership])  # fmt: skip
    new = rng.random(g.n) < 0.05
    return later, new


def test_seeding_from_the_previous_run_moves_channels_less(
    big: Planted, big_pos: np.ndarray
) -> None:
    later, new = _adjacent_window(big, seed=9)
    keys = [f"c{i}" for i in range(big.n)]
    previous = previous_positions(
        [k for k, fresh in zip(keys, new, strict=True) if not fresh],
        big_pos[~new, 0],
        big_pos[~new, 1],
    )
    seeded = compute_layout(later.n, later.src, later.dst, later.weight, later.membership,
                            seed=3, previous=previous, keys=keys)  # fmt: skip
    fresh = _layout(later, seed=3)
    extent = np.ptp(big_pos, axis=0).max()
    moved_seeded = np.linalg.norm(seeded[~new] - big_pos[~new], axis=1).mean() / extent
    moved_fresh = np.linalg.norm(fresh[~new] - big_pos[~new], axis=1).mean() / extent
    assert moved_seeded < 0.5 * moved_fresh
    assert moved_seeded < 0.05
    # New channels land near their neighbours, and the seeded map is still filled.
    centroids = {c: np.median(seeded[later.membership == c], axis=0) for c in range(8)}
    for c in range(8):
        members = np.flatnonzero(later.membership == c)
        assert (_radii(seeded, members) < 0.5).mean() >= 0.2
        newbies = members[new[members]]
        r = np.linalg.norm(seeded[newbies] - centroids[c], axis=1)
        reach = np.linalg.norm(seeded[members] - centroids[c], axis=1).max()
        assert (r <= reach).all()


def test_previous_positions_keys() -> None:
    prev = previous_positions(["a", "b", "c"], [0.0, np.nan, 2.0], [1.0, 1.0, 3.0],
                              platform=["twitch", "twitch", "kick"])  # fmt: skip
    assert prev == {("twitch", "a"): (0.0, 1.0), ("kick", "c"): (2.0, 3.0)}
    g = planted_graph(n=60, k=3, edges=500, seed=1)
    with pytest.raises(ValueError, match="keys"):
        compute_layout(g.n, g.src, g.dst, g.weight, g.membership, seed=0, previous=prev)
    # A (platform, channel) key falls back to a previous run keyed by channel only.
    base = _layout(g, seed=0)
    by_name = previous_positions([f"c{i}" for i in range(g.n)], base[:, 0], base[:, 1])
    keys = [("twitch", f"c{i}") for i in range(g.n)]
    pos = compute_layout(g.n, g.src, g.dst, g.weight, g.membership, seed=5,
                         previous=by_name, keys=keys)  # fmt: skip
    fresh = _layout(g, seed=5)
    assert np.linalg.norm(pos - base, axis=1).mean() < np.linalg.norm(fresh - base, axis=1).mean()


def test_previous_positions_from_a_runs_nodes_table() -> None:
    import pyarrow as pa

    nodes = pa.table({"platform": ["twitch", "kick", "kick"], "channel": ["a", "a", "b"],
                      "x": [1.0, 2.0, None], "y": [3.0, 4.0, 5.0]})  # fmt: skip
    assert node_keys(nodes) == [("twitch", "a"), ("kick", "a"), ("kick", "b")]
    assert previous_positions_of(nodes) == {("twitch", "a"): (1.0, 3.0), ("kick", "a"): (2.0, 4.0)}
    legacy = nodes.drop_columns(["platform"])
    assert node_keys(legacy) == ["a", "a", "b"]
    assert previous_positions_of(pa.table({"channel": ["a"]})) == {}
