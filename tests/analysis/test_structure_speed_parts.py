"""The shortcuts of the structure step checked against the direct computation they replace:
attention from the shared-viewer counts against the product over viewers, the per-count
significance bounds against the Poisson tail, the vectorised local move against a loop over
nodes, and the one-call sub-community split against splitting each community alone."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import pdtrc, pdtri

from vieweratlas.analysis.backbone import significant
from vieweratlas.analysis.communities import EdgeList
from vieweratlas.analysis.consensus import LocalMoves, jitter_confidence, modularity_weights
from vieweratlas.analysis.hierarchy import subcommunities
from vieweratlas.analysis.memberships import (
    attention_noise,
    excess_attention,
    excess_from_cooccurrence,
    memberships,
)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5))
def test_attention_from_shared_counts_equals_the_product_over_viewers(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    users, channels = 60, 14
    b = sp.random(users, channels, density=0.2, random_state=rng, format="csr")
    b.data[:] = 1.0
    membership = rng.integers(-1, k, channels)
    excess, noise = excess_attention(b, membership)
    counts = (b.T @ b).toarray()
    upper = sp.csr_matrix(np.triu(counts, k=1))
    viewers = np.asarray(b.sum(axis=0)).ravel()
    assert np.allclose(excess_from_cooccurrence(upper, viewers, membership), excess)
    scale, reach = attention_noise(b, membership)
    assert np.allclose(scale, noise)
    for c in range(len(reach)):  # unique viewers: users with any presence in it
        members = membership == c
        assert reach[c] == int((np.asarray(b[:, members].sum(axis=1)).ravel() > 0).sum())


def test_significance_bounds_equal_the_poisson_tail() -> None:
    rng = np.random.default_rng(3)
    for alpha in (0.1, 0.01):
        shared = rng.integers(1, 40, 20_000)
        expected = rng.uniform(0, 30, 20_000)
        # Some pairs right at their bound (λ where P(X ≥ s) = alpha), and a hair either side.
        at = pdtri(shared[:300] - 1, 1.0 - alpha)
        expected[:300] = at * np.repeat([1 - 1e-12, 1.0, 1 + 1e-12], 100)
        got = significant(shared, expected, alpha)
        above = shared > expected
        want = np.zeros(len(shared), dtype=bool)
        want[above] = pdtrc(shared[above] - 1.0, expected[above]) < alpha
        assert np.array_equal(got, want)


def _brute_move(n, src, dst, w, membership, resolution):  # type: ignore[no-untyped-def]
    """One simultaneous local move, node by node, from the modularity gain formula."""
    k_node = np.bincount(src, w, minlength=n) + np.bincount(dst, w, minlength=n)
    node_w = k_node / np.sqrt(k_node.sum())
    out = membership.copy()
    for i in range(n):
        if membership[i] < 0:
            continue
        ties: dict[int, float] = {}
        for a, b, x in zip(src, dst, w, strict=True):
            j = b if a == i else a if b == i else -1
            if j >= 0 and membership[j] >= 0:
                ties[int(membership[j])] = ties.get(int(membership[j]), 0.0) + x

        def gain(c: int, i: int = i, ties: dict[int, float] = ties) -> float:
            total = node_w[membership == c].sum() - (node_w[i] if c == membership[i] else 0.0)
            return ties.get(c, 0.0) - resolution * node_w[i] * total

        stay = gain(int(membership[i]))
        others = sorted(c for c in ties if c != membership[i])
        if others:
            best = max(others, key=lambda c: (gain(c), -c))
            if gain(best) > stay:
                out[i] = best
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_vectorised_local_move_equals_a_loop_over_nodes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.35])
    if len(pairs) == 0:
        return
    src, dst = pairs[:, 0], pairs[:, 1]
    w = rng.uniform(0.1, 2.0, len(src))
    membership = rng.integers(-1, 3, n)
    got = LocalMoves(n, src, dst, membership).best(w, modularity_weights(n, src, dst), 1.0)
    assert got.tolist() == _brute_move(n, src, dst, w, membership, 1.0).tolist()


def _two_cliques_joined(size: int, offset: int) -> tuple[list[int], list[int], list[float]]:
    src, dst, w = [], [], []
    for start in (offset, offset + size):
        for a in range(start, start + size):
            for b in range(a + 1, start + size):
                src.append(a)
                dst.append(b)
                w.append(1.0)
    src.append(offset)
    dst.append(offset + size)
    w.append(0.2)
    return src, dst, w


def test_one_call_split_equals_splitting_each_community_alone() -> None:
    # Community 0: two 6-cliques; community 1: two 5-cliques; community 2: one 4-clique.
    (s0, d0, w0), (s1, d1, w1) = _two_cliques_joined(6, 0), _two_cliques_joined(5, 12)
    src = [*s0, *s1, 22, 22, 22, 23, 23, 24]
    dst = [*d0, *d1, 23, 24, 25, 24, 25, 25]
    w = [*w0, *w1] + [1.0] * 6
    src.append(0)  # an edge between communities, which the split must ignore
    dst.append(12)
    w.append(3.0)
    membership = np.array([0] * 12 + [1] * 10 + [2] * 4)
    graph = EdgeList(26, np.array(src), np.array(dst), np.array(w))
    options = dict(algorithm="leiden", resolution=1.0, seed=3, min_size=3, min_modularity=0.1)
    h = subcommunities(graph, membership, runs=5, **options)  # type: ignore[arg-type]
    groups = {tuple(np.flatnonzero(h.subcommunity == s)) for s in set(h.subcommunity.tolist())}
    assert groups == {
        tuple(range(0, 6)), tuple(range(6, 12)), tuple(range(12, 17)), tuple(range(17, 22)),
        tuple(range(22, 26)),
    }  # fmt: skip
    assert h.stability is not None and len(h.stability) == len(h.parent) == 5
    assert np.all((h.stability > 0.9) & (h.stability <= 1.0))
    # Alone: community 1's subgraph, renumbered, splits the same way.
    alone = np.array([m == 1 for m in membership])
    keep = alone[graph.src] & alone[graph.dst]
    sub = EdgeList(10, graph.src[keep] - 12, graph.dst[keep] - 12, graph.weight[keep])
    h1 = subcommunities(sub, np.zeros(10, dtype=np.int64), **options)  # type: ignore[arg-type]
    assert (h1.subcommunity[:5] == h1.subcommunity[0]).all()
    assert (h1.subcommunity[5:] == h1.subcommunity[5]).all()
    assert h1.subcommunity[0] != h1.subcommunity[5]


def test_confidence_marks_the_channel_torn_between_two_communities() -> None:
    # Two 6-cliques; node 12 has three ties to each: it flips under jitter, the rest do not.
    src, dst, w = _two_cliques_joined(6, 0)
    src, dst, w = src[:-1], dst[:-1], w[:-1]  # no bridge edge
    for j in (0, 1, 2, 6, 7, 8):
        src.append(j)
        dst.append(12)
        w.append(1.0)
    membership = np.array([0] * 6 + [1] * 6 + [0])
    args = (13, np.array(src), np.array(dst), np.array(w), membership)
    conf, stability = jitter_confidence(*args, resolution=1.0, seed=1, runs=40)
    again, _ = jitter_confidence(*args, resolution=1.0, seed=1, runs=40)
    assert np.array_equal(conf, again)  # deterministic for a seed
    assert conf[:12].min() == 1.0 and 0.2 < conf[12] < 0.8
    assert stability.min() > 0.8


def test_a_share_counts_only_measurable_ties() -> None:
    # One channel: 30 units of excess to community 0 (its own), 12 to 1, and ten crumbs of
    # 2 (below its noise of 3) to communities 2..11. Over all positive excess, community 1
    # would get 12/62 < 0.2; over the measurable ties it gets 12/42.
    excess = np.array([[30.0, 12.0] + [2.0] * 10])
    noise = np.full_like(excess, 3.0)
    ties = memberships(excess, noise, np.array([0]), min_share=0.2, min_z=1.2)
    assert ties.community.tolist() == [0, 1] and ties.bridge[0]
    assert np.isclose(ties.share[1], 12 / 42)
