"""``select_edges`` and ``top_k_per_node`` against plain, obviously correct references.

The data is planted here (pair counts and channel sizes drawn from small sets, so scores
and counts tie a lot), independent of ``vieweratlas.synth``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import pdtrc
from scipy.stats import poisson

from vieweratlas.analysis.backbone import top_k_per_node
from vieweratlas.analysis.overlap import select_edges

WEIGHTS = ("excess", "cosine", "jaccard", "shared")


def planted_pairs(seed: int, n: int = 60) -> tuple[np.ndarray, ...]:
    """Random distinct pairs ``a < b`` in shuffled order, counts and sizes with many ties."""
    rng = np.random.default_rng(seed)
    viewers = rng.choice([3, 8, 8, 40, 40, 40, 300, 2000], n).astype(np.int64)
    upper = np.triu_indices(n, 1)
    chosen = rng.random(len(upper[0])) < rng.uniform(0.2, 0.9)
    a, b = upper[0][chosen], upper[1][chosen]
    cap = np.minimum(viewers[a], viewers[b])
    shared = np.minimum(rng.choice([1, 1, 1, 2, 2, 3, 5, 12, 40], len(a)), cap)
    order = rng.permutation(len(a))  # whoever counted, any order
    return a[order], b[order], shared[order], viewers


def reference_weight(s: float, na: float, nb: float, kind: str, users: int) -> float:
    if kind == "excess":
        return (s - na * nb / users) / np.sqrt(na * nb)
    if kind == "cosine":
        return s / np.sqrt(na * nb)
    if kind == "jaccard":
        return s / (na + nb - s)
    return s


def reference_select(
    a: np.ndarray,
    b: np.ndarray,
    shared: np.ndarray,
    viewers: np.ndarray,
    users: int,
    *,
    threshold: int,
    weight: str,
    alpha: float,
    neighbours: int,
    neighbour_alpha: float,
) -> list[tuple[int, int, int, float]]:
    """Pair by pair: threshold, chance test, weight, then each channel's top ``neighbours``
    by excess over chance (ties: the earlier pair in (a, b) order), union of both ends."""
    pairs = sorted(
        (int(x), int(y), int(s)) for x, y, s in zip(a, b, shared, strict=True) if s >= threshold
    )
    kept = []
    for x, y, s in pairs:
        na, nb = float(viewers[x]), float(viewers[y])
        lam = na * nb / users
        if not (s > lam and pdtrc(s - 1.0, lam) < neighbour_alpha):
            continue
        if alpha > 0 and not poisson.sf(s - 1, lam) < alpha:
            continue
        w = reference_weight(float(s), na, nb, weight, users)
        if w > 0:
            kept.append((x, y, s, w, (s - lam) / np.sqrt(na * nb)))
    chosen: set[int] = set()
    for node in range(len(viewers)):
        mine = [i for i, e in enumerate(kept) if node in (e[0], e[1])]
        mine.sort(key=lambda i: (-kept[i][4], i))
        chosen.update(mine[:neighbours])
    return [kept[i][:4] for i in sorted(chosen)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    weight=st.sampled_from(WEIGHTS),
    threshold=st.integers(1, 3),
    neighbours=st.integers(1, 6),
    neighbour_alpha=st.sampled_from([0.5, 0.1, 0.01]),
    alpha=st.sampled_from([0.0, 0.05]),
    wide=st.booleans(),
)
def test_neighbour_selection_equals_the_pair_by_pair_reference(
    seed: int,
    weight: str,
    threshold: int,
    neighbours: int,
    neighbour_alpha: float,
    alpha: float,
    wide: bool,
) -> None:
    a, b, shared, viewers = planted_pairs(seed)
    if not wide:  # the local engine's int32 counts; Spark's arrive as int64
        a, b, shared = a.astype(np.int32), b.astype(np.int32), shared.astype(np.int32)
    users = 2500
    got = select_edges(
        a,
        b,
        shared,
        viewers,
        users=users,
        pairs=len(a),
        threshold=threshold,
        weight=weight,  # type: ignore[arg-type]
        alpha=alpha,
        neighbours=neighbours,
        neighbour_alpha=neighbour_alpha,
    )
    want = reference_select(
        a,
        b,
        shared,
        viewers,
        users,
        threshold=threshold,
        weight=weight,
        alpha=alpha,
        neighbours=neighbours,
        neighbour_alpha=neighbour_alpha,
    )
    assert got.src.dtype == np.int32 and got.dst.dtype == np.int32
    assert got.shared.dtype == np.int64 and got.weight.dtype == np.float64
    assert list(zip(got.src.tolist(), got.dst.tolist(), got.shared.tolist(), strict=True)) == [
        e[:3] for e in want
    ]
    assert np.allclose(got.weight, [e[3] for e in want], rtol=1e-12, atol=0)
    assert (got.threshold, got.pairs_with_any_overlap) == (threshold, len(a))
    assert not np.shares_memory(got.src, a) and not np.shares_memory(got.shared, shared)


def brute_top_k(src: np.ndarray, dst: np.ndarray, score: np.ndarray, n: int, k: int) -> np.ndarray:
    keep = np.zeros(len(src), dtype=bool)
    for node in set(src.tolist()) | set(dst.tolist()):
        mine = [i for i in range(len(src)) if node in (src[i], dst[i])]
        mine.sort(key=lambda i: (-score[i], i))
        keep[mine[:k]] = True
    return keep


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 6),
    nodes=st.sampled_from([3, 20, 70_000]),
    kind=st.sampled_from(["ties", "near ties", "signs"]),
)
def test_top_k_equals_sorting_each_node_alone(seed: int, k: int, nodes: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    used = rng.choice(nodes, min(nodes, 25), replace=False)  # few busy nodes, many ids
    src, dst = rng.choice(used, (2, 120))
    keep = src != dst
    src, dst = src[keep].astype(np.int32), dst[keep].astype(np.int32)
    score = rng.integers(0, 4, len(src)) * 0.25
    if kind == "near ties":  # differ in the last bits only: the truncated key cannot tell
        score = score + rng.integers(0, 3, len(src)) * np.spacing(1.0)
    elif kind == "signs":  # negative scores, and -0.0 next to 0.0
        score = score - 0.5
        score[score == 0] = rng.choice([0.0, -0.0], int((score == 0).sum()))
    got = top_k_per_node(src, dst, score, nodes, k)
    assert np.array_equal(got, brute_top_k(src, dst, score, nodes, k))


def test_top_k_with_nan_scores_ranks_them_last() -> None:
    src = np.array([0, 0, 0, 1], np.int32)
    dst = np.array([1, 2, 3, 2], np.int32)
    score = np.array([np.nan, 1.0, 2.0, np.nan])
    assert top_k_per_node(src, dst, score, 4, 1).tolist() == [True, True, True, False]


def test_repeated_pairs_keep_their_input_order() -> None:
    # Counting never repeats a pair, but the order of repeats stays the caller's (a stable
    # sort by pair), not the counts'.
    a = np.array([3, 1, 1, 0, 1], np.int32)
    b = np.array([4, 2, 2, 1, 2], np.int32)
    shared = np.array([5, 9, 2, 7, 4], np.int32)
    got = select_edges(
        a, b, shared, np.full(5, 50, np.int64), users=100, pairs=5, threshold=1, weight="shared"
    )
    assert got.src.tolist() == [0, 1, 1, 1, 3] and got.dst.tolist() == [1, 2, 2, 2, 4]
    assert got.shared.tolist() == [7, 9, 2, 4, 5]
