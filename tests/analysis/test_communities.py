from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from vieweratlas.analysis.communities import (
    UNCLUSTERED,
    attach,
    detect,
    merge_small,
    relabel_by_size,
)
from vieweratlas.analysis.overlap import Overlap
from vieweratlas.analysis.quality import nmi


def planted_graph(
    sizes: list[int], p_in: float, p_out: float, seed: int
) -> tuple[Overlap, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    n = len(truth)
    a, b = np.triu_indices(n, k=1)
    same = truth[a] == truth[b]
    keep = rng.random(len(a)) < np.where(same, p_in, p_out)
    src, dst = a[keep].astype(np.int32), b[keep].astype(np.int32)
    weight = rng.uniform(0.5, 1.0, len(src))
    shared = np.full(len(src), 10, dtype=np.int64)
    return Overlap(src, dst, shared, weight, np.full(n, 100, dtype=np.int64), len(src)), truth


@pytest.mark.parametrize("algorithm", ["leiden", "louvain"])
def test_recovers_planted_groups_and_every_channel_has_one_community(algorithm: str) -> None:
    g, truth = planted_graph([30, 25, 20, 15], p_in=0.4, p_out=0.02, seed=1)
    part = detect(g, algorithm=algorithm, resolution=1.0, seed=3, min_size=3)
    assert part.membership.shape == (g.n,)
    assert nmi(truth, part.membership) > 0.95
    sizes = np.bincount(part.membership[part.membership >= 0])
    assert (sizes >= 3).all()
    assert (np.diff(sizes) <= 0).all()  # numbered largest first
    assert part.modularity > 0.3  # well above the all-singletons partition (< 0)


@pytest.mark.parametrize("algorithm", ["leiden", "louvain"])
def test_same_seed_same_communities(algorithm: str) -> None:
    g, _ = planted_graph([40, 40, 40], p_in=0.15, p_out=0.05, seed=2)
    runs = [detect(g, algorithm=algorithm, resolution=1.0, seed=11, min_size=1) for _ in range(3)]
    assert all((r.membership == runs[0].membership).all() for r in runs)


def test_resolution_controls_granularity() -> None:
    g, _ = planted_graph([20] * 6, p_in=0.5, p_out=0.05, seed=4)
    coarse = detect(g, algorithm="leiden", resolution=0.05, seed=1, min_size=1)
    fine = detect(g, algorithm="leiden", resolution=1.0, seed=1, min_size=1)
    assert coarse.membership.max() < fine.membership.max()


def test_small_communities_merge_into_their_strongest_neighbour() -> None:
    # 0-1-2 a triangle, 3 tied weakly to 0 and strongly to 4..6 (a triangle too).
    edges = [
        (0, 1, 1),
        (1, 2, 1),
        (0, 2, 1),
        (3, 0, 0.1),
        (3, 4, 0.9),
        (4, 5, 1),
        (5, 6, 1),
        (4, 6, 1),
    ]
    n = 8  # node 7 alone in its own component with nothing
    src, dst, w = (np.array(x) for x in zip(*edges, strict=True))
    adj = sp.coo_matrix((w, (src, dst)), shape=(n, n))
    adj = (adj + adj.T).tocsr()
    membership = np.array([0, 0, 0, 1, 2, 2, 2, 3])
    merged, count = merge_small(adj, membership, min_size=3)
    assert merged[3] == 2  # joined the strongly tied group
    assert merged[7] == UNCLUSTERED  # no ties at all
    assert count == 1


def test_relabel_by_size_keeps_unclustered() -> None:
    out = relabel_by_size(np.array([5, 5, 9, -1, 9, 9, 2]))
    assert out.tolist() == [1, 1, 0, -1, 0, 0, 2]


def test_attach_places_loose_channels_where_their_viewers_are() -> None:
    # users × channels: channels 0,1 community 0; 2,3 community 1; 4 loose (viewers of 2,3).
    b = np.zeros((6, 5), dtype=np.int32)
    b[0:3, 0:2] = 1
    b[3:6, 2:4] = 1
    b[3:5, 4] = 1
    membership = np.array([0, 0, 1, 1, UNCLUSTERED])
    out, attached = attach(sp.csr_matrix(b), membership)
    assert out.tolist() == [0, 0, 1, 1, 1]
    assert attached.tolist() == [False, False, False, False, True]
