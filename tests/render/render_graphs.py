"""Helpers for the render tests: random graphs with planted communities, as atlas tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from vieweratlas.render import compute_layout


@dataclass(frozen=True)
class Planted:
    """A random graph whose edges mostly stay inside planted groups."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    shared: np.ndarray
    membership: np.ndarray


def planted_graph(
    n: int = 240, k: int = 6, edges: int = 3000, p_in: float = 0.9, seed: int = 0
) -> Planted:
    """``n`` nodes in ``k`` groups of random sizes; a fraction ``p_in`` of edges is internal."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.full(k, 4.0))
    membership = np.sort(rng.choice(k, size=n, p=sizes))
    membership[:k] = np.arange(k)  # every group non-empty
    membership = np.sort(membership)
    order = np.argsort(membership, kind="stable")
    starts = np.searchsorted(membership[order], np.arange(k))
    counts = np.bincount(membership, minlength=k)
    src = rng.integers(0, n, edges)
    group = membership[src]
    inside = order[starts[group] + (rng.random(edges) * counts[group]).astype(np.int64)]
    dst = np.where(rng.random(edges) < p_in, inside, rng.integers(0, n, edges))
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    keep = lo != hi
    pairs = np.unique(np.c_[lo[keep], hi[keep]], axis=0)
    shared = rng.integers(5, 500, len(pairs))
    weight = shared / shared.max()
    return Planted(n, pairs[:, 0], pairs[:, 1], weight, shared, membership)


def atlas_tables(
    graph: Planted,
    *,
    names: list[str] | None = None,
    games: list[str | None] | None = None,
    titles: list[str | None] | None = None,
    community_labels: list[str] | None = None,
    seed: int = 1,
    layout: bool = True,
) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, Any]]:
    """The four inputs of ``write_atlas`` for ``graph`` (laid out with ``compute_layout``)."""
    n = graph.n
    rng = np.random.default_rng(seed)
    channels = names or [f"chan{i:04d}" for i in range(n)]
    pos = (
        compute_layout(n, graph.src, graph.dst, graph.weight, graph.membership, seed=seed)
        if layout
        else rng.normal(size=(n, 2)) * 100
    )
    viewers = rng.integers(10, 50_000, n)
    k = int(graph.membership.max()) + 1
    labels = community_labels or [f"Game {c} · EN" for c in range(k)]
    game_list = games or [f"Game {graph.membership[i]}" for i in range(n)]
    nodes = pa.table(
        {
            "channel": pa.array(channels, pa.string()),
            "community": pa.array(graph.membership, pa.int32()),
            "label": pa.array([labels[c] for c in graph.membership], pa.string()),
            "viewers": pa.array(viewers, pa.int64()),
            "game": pa.array(game_list, pa.string()),
            "language": pa.array(["en"] * n, pa.string()),
            "title": pa.array(titles or [f"stream {i}" for i in range(n)], pa.string()),
            "x": pa.array(pos[:, 0], pa.float64()),
            "y": pa.array(pos[:, 1], pa.float64()),
            "degree": pa.array(
                np.bincount(graph.src, minlength=n) + np.bincount(graph.dst, minlength=n),
                pa.int32(),
            ),
            "strength": pa.array(np.zeros(n), pa.float64()),
        }
    )
    edges = pa.table(
        {
            "source": pa.array([channels[i] for i in graph.src], pa.string()),
            "target": pa.array([channels[i] for i in graph.dst], pa.string()),
            "shared": pa.array(graph.shared, pa.int64()),
            "weight": pa.array(graph.weight, pa.float64()),
        }
    )
    sizes = np.bincount(graph.membership, minlength=k)
    communities = pa.table(
        {
            "community": pa.array(np.arange(k), pa.int32()),
            "label": pa.array(labels, pa.string()),
            "size": pa.array(sizes, pa.int32()),
            "viewers": pa.array(
                [int(viewers[graph.membership == c].sum()) for c in range(k)], pa.int64()
            ),
            "top_channels": pa.array(
                [
                    ",".join(channels[i] for i in np.flatnonzero(graph.membership == c)[:3])
                    for c in range(k)
                ],
                pa.string(),
            ),
            "games": pa.array(labels, pa.string()),
            "languages": pa.array(["en"] * k, pa.string()),
        }
    )
    summary = {
        "counts": {
            "channels": n,
            "edges": len(graph.src),
            "communities": k,
            "viewers": int(viewers.sum()),
            "presence_rows": 123_456,
        },
        "window": {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-08T00:00:00+00:00"},
        "modularity": 0.61,
        "algorithm": "leiden",
        "parameters": {"resolution": 1.0, "seed": seed},
    }
    return nodes, edges, communities, summary


def heavy_tailed_graph(
    n: int = 5000, k: int = 8, edges: int = 60_000, p_in: float = 0.85, seed: int = 0
) -> Planted:
    """Communities with heavy-tailed activity (a few hubs, many small channels).

    Node ``i`` takes part in edges in proportion to a Pareto activity; a fraction ``p_in``
    of edges stays inside a community, the rest goes to the *next or previous* community
    (``c ± 1 mod k``), so the planted community graph is a ring: tied neighbours are known.
    Repeated draws of a pair add up into its weight.
    """
    rng = np.random.default_rng(seed)
    membership = np.sort(rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 3.0))))
    membership[:k] = np.arange(k)
    membership = np.sort(membership)
    activity = rng.pareto(1.5, n) + 1.0
    src = rng.choice(n, edges, p=activity / activity.sum())
    group = membership[src]
    inside = rng.random(edges) < p_in
    target = np.where(inside, group, (group + rng.choice([-1, 1], edges)) % k)
    dst = np.empty(edges, dtype=np.int64)
    for c in range(k):  # k draws, one per community: vectorized within each
        members = np.flatnonzero(membership == c)
        chosen = target == c
        p = activity[members] / activity[members].sum()
        dst[chosen] = rng.choice(members, int(chosen.sum()), p=p)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    keep = lo != hi
    pairs, count = np.unique(np.c_[lo[keep], hi[keep]], axis=0, return_counts=True)
    weight = count.astype(np.float64)
    shared = count.astype(np.int64) * 10
    return Planted(n, pairs[:, 0], pairs[:, 1], weight, shared, membership)
