from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from vieweratlas.analysis.overlap import overlap, select_channels


def random_incidence(
    seed: int, users: int = 300, channels: int = 25, p: float = 0.08
) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, channels)) < p) * rng.integers(1, 4, (users, channels))
    return sp.csr_matrix(dense.astype(np.int32))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_shared_equals_pairwise_set_intersections(seed: int, threshold: int) -> None:
    m = random_incidence(seed)
    g = overlap(m, threshold=threshold, weight="shared")
    audiences = [set(m[:, c].nonzero()[0]) for c in range(m.shape[1])]
    expected = {
        (a, b): len(audiences[a] & audiences[b])
        for a, b in itertools.combinations(range(m.shape[1]), 2)
        if len(audiences[a] & audiences[b]) >= threshold
    }
    got = {(int(a), int(b)): int(s) for a, b, s in zip(g.src, g.dst, g.shared, strict=True)}
    assert got == expected
    assert (g.src < g.dst).all()  # each undirected pair once, no self-loops
    assert g.viewers.tolist() == [len(a) for a in audiences]


def test_weights_normalise_and_adjacency_is_symmetric() -> None:
    m = random_incidence(1)
    cos = overlap(m, threshold=1, weight="cosine")
    assert np.allclose(
        cos.weight, cos.shared / np.sqrt(cos.viewers[cos.src] * cos.viewers[cos.dst])
    )
    assert (cos.weight > 0).all() and (cos.weight <= 1).all()
    jac = overlap(m, threshold=1, weight="jaccard")
    na, nb = jac.viewers[jac.src], jac.viewers[jac.dst]
    assert np.allclose(jac.weight, jac.shared / (na + nb - jac.shared))
    adj = cos.adjacency()
    assert (abs(adj - adj.T) > 1e-12).nnz == 0
    assert adj.diagonal().sum() == 0


def test_excess_weight_keeps_only_more_than_chance() -> None:
    m = random_incidence(2, users=2000, channels=30, p=0.1)
    g = overlap(m, threshold=1, weight="excess")
    users = int((np.diff(m.indptr) > 0).sum())
    expected = g.viewers[g.src] * g.viewers[g.dst] / users
    assert (g.shared > expected).all()
    assert (g.weight > 0).all()


def test_significance_drops_what_chance_explains_and_keeps_real_ties() -> None:
    rng = np.random.default_rng(3)
    noise = (rng.random((5000, 20)) < 0.05).astype(np.int32)
    noise[:300, 0] = 1  # channels 0 and 1 share 300 extra viewers on purpose
    noise[:300, 1] = 1
    g = overlap(sp.csr_matrix(noise), threshold=1, weight="excess", alpha=1e-3)
    pairs = set(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    assert (0, 1) in pairs
    assert len(pairs) <= 3  # independent noise rarely passes p < 0.001 (190 pairs tested)


def test_select_channels_by_size_then_cap() -> None:
    m = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 0, 1, 1], [0, 0, 0, 1]]))
    # viewers per channel: 3, 1, 1, 4
    assert select_channels(m, min_viewers=2, max_channels=10).tolist() == [0, 3]
    assert select_channels(m, min_viewers=1, max_channels=2).tolist() == [0, 3]
    assert select_channels(m, min_viewers=5, max_channels=10).tolist() == []


def test_edge_budget_raises_the_threshold_just_enough() -> None:
    m = random_incidence(5, users=3000, channels=40, p=0.1)
    exact = overlap(m, threshold=1, weight="shared")
    budget = len(exact.src) // 3
    g = overlap(m, threshold=1, weight="shared", max_edges=budget)
    assert len(g.src) <= budget
    assert g.threshold > 1
    assert (g.shared >= g.threshold).all()
    # One less would have broken the budget: the threshold is the smallest that fits.
    assert int((exact.shared >= g.threshold - 1).sum()) > budget
    # A budget that is not exceeded changes nothing.
    same = overlap(m, threshold=1, weight="shared", max_edges=len(exact.src))
    assert same.threshold == 1 and len(same.src) == len(exact.src)
