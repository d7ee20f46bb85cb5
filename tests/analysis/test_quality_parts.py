"""The pure parts behind coverage, confidence, hierarchy and memberships, on small data
checked against brute force or hand-made truth."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from vieweratlas.analysis.backbone import disparity, significant, top_k_per_node
from vieweratlas.analysis.consensus import agreement, detect_with_confidence
from vieweratlas.analysis.hierarchy import subcommunities
from vieweratlas.analysis.memberships import excess_attention, memberships, place, refine
from vieweratlas.analysis.overlap import overlap
from vieweratlas.pipeline.structure import drawn_channels


@dataclass(frozen=True)
class Edges:
    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def adjacency(self) -> sp.csr_matrix:
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 12),
    k=st.integers(1, 4),
    data=st.data(),
)
def test_top_k_is_the_union_of_each_nodes_best(n: int, k: int, data: st.DataObject) -> None:
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    chosen = data.draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    src = np.array([a for a, _ in chosen], dtype=np.int32)
    dst = np.array([b for _, b in chosen], dtype=np.int32)
    score = np.array(data.draw(st.permutations(range(len(chosen)))), dtype=np.float64)
    keep = top_k_per_node(src, dst, score, n, k)
    expected = np.zeros(len(chosen), dtype=bool)
    for v in range(n):
        mine = [e for e in range(len(chosen)) if v in (src[e], dst[e])]
        for e in sorted(mine, key=lambda e: -score[e])[:k]:
            expected[e] = True
    assert keep.tolist() == expected.tolist()


def test_one_shared_viewer_is_meaningful_between_small_channels_only() -> None:
    # Two 5-viewer channels sharing 1 of 100,000 viewers: far beyond chance.
    # Two 20,000-viewer channels sharing 4,000: exactly chance.
    shared = np.array([1, 4000])
    expected = np.array([5 * 5 / 100_000, 20_000 * 20_000 / 100_000])
    assert significant(shared, expected, 0.01).tolist() == [True, False]


def test_small_channels_keep_edges_under_neighbours_but_not_under_a_budget() -> None:
    rng = np.random.default_rng(0)
    users, big = 4000, 40
    rows, cols = [], []
    for c in range(big):  # big channels: 300 random viewers each, from one pool
        rows += rng.choice(users, 300, replace=False).tolist()
        cols += [c] * 300
    for s in range(10):  # small channels: 12 viewers, 3 of them shared with big channel s
        own = (users + 12 * s + np.arange(12)).tolist()
        rows += own
        cols += [big + s] * 12
        rows += own[:3]
        cols += [s] * 3
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users + 120, big + 10))
    per_channel = overlap(m, threshold=1, weight="excess", neighbours=5)
    budget = overlap(m, threshold=1, weight="excess", max_edges=5 * (big + 10))
    for g in (per_channel, budget):
        degree = np.bincount(np.concatenate([g.src, g.dst]), minlength=big + 10)
        if g is per_channel:
            assert (degree[big:] > 0).all()
        else:
            assert (degree[big:] == 0).all()  # the threshold rose past every small channel


def test_disparity_keeps_a_dominant_edge() -> None:
    src = np.array([0, 0, 0, 0, 0, 0])
    dst = np.array([1, 2, 3, 4, 5, 6])
    w = np.array([100.0, 1, 1, 1, 1, 1])
    keep = disparity(src, dst, w, 7, alpha=0.05)
    assert keep[0]


def test_agreement_is_one_for_identical_runs_and_low_for_a_flipped_node() -> None:
    ref = np.array([0, 0, 0, 1, 1, 1, -1])
    same = ref.copy()
    conf, stab = agreement(ref, [same, same])
    assert np.allclose(conf[:6], 1.0) and np.isnan(conf[6])
    assert np.allclose(stab, 1.0)
    flipped = np.array([0, 0, 1, 1, 1, 1, 0])  # node 2 moves to the other community
    conf, _ = agreement(ref, [flipped])
    assert conf[2] < conf[0] and conf[2] < conf[3]


def _cliques(sizes: list[int], bridge_weight: float = 0.05) -> Edges:
    src, dst, w = [], [], []
    start = 0
    for s in sizes:
        for a in range(start, start + s):
            for b in range(a + 1, start + s):
                src.append(a)
                dst.append(b)
                w.append(1.0)
        start += s
    starts = np.cumsum([0, *sizes[:-1]])
    for a, b in itertools.pairwise(starts):
        src.append(int(a))
        dst.append(int(b))
        w.append(bridge_weight)
    return Edges(start, np.array(src), np.array(dst), np.array(w))


def test_confidence_is_deterministic_and_high_on_clear_structure() -> None:
    g = _cliques([8, 8, 8])
    runs = [
        detect_with_confidence(g, algorithm="leiden", resolution=1.0, seed=5, min_size=3, runs=6)
        for _ in range(2)
    ]
    assert np.array_equal(runs[0].confidence, runs[1].confidence)
    assert len(set(runs[0].partition.membership.tolist())) == 3
    assert runs[0].confidence.min() > 0.9 and runs[0].stability.min() > 0.9


def test_subcommunities_nest_and_have_unique_ids() -> None:
    # Two communities, each made of two cliques joined weakly.
    g = _cliques([6, 6, 6, 6], bridge_weight=0.3)
    membership = np.array([0] * 12 + [1] * 12)
    h = subcommunities(
        g, membership, algorithm="leiden", resolution=1.0, seed=1, min_size=3, min_modularity=0.1
    )
    assert h.subcommunity.min() >= 2  # ids after the top-level ones
    assert len(set(h.subcommunity.tolist())) == 4
    for sub in set(h.subcommunity.tolist()):
        inside = membership[h.subcommunity == sub]
        assert len(set(inside.tolist())) == 1 and h.parent[sub - 2] == inside[0]


def test_memberships_find_a_bridge_and_place_a_loose_channel() -> None:
    rng = np.random.default_rng(1)
    # Four communities of 5 channels (0-4, 5-9, 10-14, 15-19), each with its own 200
    # viewers who visit 3 of its channels; channel 20 draws 40 viewers from community 0
    # and 40 from community 1 (a bridge); channel 21 (no community yet) draws from 1 only.
    rows, cols = [], []
    for user in range(800):
        base = 5 * (user // 200)
        for c in rng.choice(5, 3, replace=False):
            rows.append(user)
            cols.append(base + int(c))
    for user in list(range(0, 40)) + list(range(200, 240)):
        rows.append(user)
        cols.append(20)
    for user in range(240, 280):
        rows.append(user)
        cols.append(21)
    b = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(800, 22))
    membership = np.array([c // 5 for c in range(20)] + [0, -1])
    excess, noise = excess_attention(b, membership)
    placed, attached = place(excess, membership)
    assert placed[21] == 1 and attached.tolist() == [False] * 21 + [True]
    moved, _ = refine(excess, noise, placed, min_z=0.0)
    assert moved[:20].tolist() == membership[:20].tolist()
    ties = memberships(excess, noise, placed, min_share=0.2)
    of = {c: set(ties.community[ties.channel == c].tolist()) for c in range(22)}
    assert of[20] == {0, 1} and ties.bridge[20]
    assert not ties.bridge[:20].any() and not ties.bridge[21]


def test_drawn_channels_keep_every_community_leader() -> None:
    viewers = np.array([100, 90, 80, 70, 5, 4])
    membership = np.array([0, 0, 0, 0, 1, 2])
    assert drawn_channels(viewers, membership, 3).tolist() == [0, 4, 5]
    assert drawn_channels(viewers, membership, 4).tolist() == [0, 1, 4, 5]
    assert drawn_channels(viewers, membership, 10).tolist() == list(range(6))


def test_refine_within_moves_only_inside_the_parent() -> None:
    from vieweratlas.analysis.hierarchy import Hierarchy, refine_within

    membership = np.array([0, 0, 0, 1, 1])
    # Sub-communities 2, 3 (of community 0) and 4 (of community 1); channel 1 sits in 2 but
    # its viewers favour 3; channel 3 favours sub-community 2, which is not in its community.
    h = Hierarchy(np.array([2, 2, 3, 4, 4], np.int32), np.array([0, 0, 1], np.int32))
    excess = np.array(
        [
            [5.0, 1.0, 0.0],
            [1.0, 5.0, 0.0],
            [0.0, 5.0, 0.0],
            [9.0, 0.0, 1.0],
            [0.0, 0.0, 5.0],
        ]
    )
    refined, moved = refine_within(excess, h, membership)
    assert refined.subcommunity.tolist() == [2, 3, 3, 4, 4] and moved == 1
