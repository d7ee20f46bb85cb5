"""Community-aware layout: the community graph first, then each community's members inside it.

A global ForceAtlas2 run over 5,000 nodes and 100,000 edges takes a minute in NumPy and still
lets big communities bleed into each other. The atlas wants something else: every community
a visibly separate island, placed next to the communities it shares viewers with, its inside
filled with its own structure. So the layout runs in two levels, both vectorized (no Python
loop over nodes or node pairs):

1. the *community graph* (one node per community, its edges the normalised ties between two
   communities) is laid out with a small force model whose repulsion keeps discs of area
   proportional to the community size apart, with a gap that leaves the links between them
   visible;
2. each community is laid out on its own with ForceAtlas2's LinLog model (attraction
   ``w·log(1+d)``, degree-weighted repulsion ``(deg_i+1)(deg_j+1)/d``, gravity), then its
   radii are *equalised*: the member at radius rank ``q`` moves to radius ``sqrt(q)`` along
   its own direction. The disc fills evenly, in the force layout's arrangement, instead of
   a force layout's typical ring of loosely tied members piled up on the rim.

Stability between runs: given the positions of a previous run (``previous``, keyed like
``keys``), communities start at their members' old centre, members at their old place, both
levels run briefly and cold, and the result is rotated onto the previous positions
(orthogonal Procrustes). Channels present in both runs then move little; new ones land next
to their neighbours.

Unclustered nodes (community ``-1``) sit at the weighted mean of their neighbours; isolated
ones on a ring outside everything. Deterministic for a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)

__all__ = ["compute_layout", "node_keys", "previous_positions", "previous_positions_of"]

# Above this size a community's repulsion is estimated from a random sample of nodes (scaled
# up), keeping each iteration O(m·SAMPLE) instead of O(m²).
_DENSE_LIMIT = 500
_SAMPLE = 300
# FA2 scaling ratio (repulsion against LinLog attraction), divided by the mean mass.
_SCALING = 1.5
# Distance between community centres ≥ _GAP · (r_i + r_j): the empty band between two discs
# is where the links between communities show.
_GAP = 1.3


def compute_layout(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    membership: np.ndarray,
    *,
    seed: int,
    previous: Mapping[Any, tuple[float, float]] | None = None,
    keys: Sequence[Hashable] | None = None,
) -> np.ndarray:
    """Positions ``(n, 2)`` for an undirected weighted graph with a community per node.

    ``src[i]``, ``dst[i]``, ``weight[i]`` are the edges over nodes ``0..n-1``;
    ``membership[i]`` is node ``i``'s community (``-1`` = unclustered). Communities come out
    visibly separated, and the result is the same for the same inputs and ``seed``.

    ``previous`` maps a node identity to its position in an earlier layout (e.g. from
    :func:`previous_positions` on the previous run's nodes); ``keys[i]`` is node ``i``'s
    identity in that mapping (``(platform, channel)`` or ``channel``; a ``(platform,
    channel)`` key missing from ``previous`` is also looked up as ``channel``). Nodes found
    there start from their old place, so similar data gives a similar map.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    membership = np.asarray(membership, dtype=np.int64)
    if not (src.shape == dst.shape == weight.shape):
        raise ValueError("src, dst and weight must have the same length")
    if membership.shape != (n,):
        raise ValueError(f"membership must have length n={n}, got {membership.shape}")
    pos = np.zeros((n, 2), dtype=np.float64)
    if n == 0:
        return pos
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise ValueError("edge endpoints must be in 0..n-1")
    old = _seed_positions(n, previous, keys)
    rng = np.random.default_rng(seed)
    adj = _adjacency(n, src, dst, weight)

    groups = membership.copy()
    if not (groups >= 0).any():
        groups[:] = 0  # nothing clustered: lay the whole graph out as one group
    labels, inverse = np.unique(groups[groups >= 0], return_inverse=True)
    clustered = np.flatnonzero(groups >= 0)
    sizes = np.bincount(inverse, minlength=labels.size).astype(np.float64)
    radii = np.sqrt(sizes)

    # Level 1: the community graph, its ties normalised by the communities' volumes so two
    # small, tightly linked communities attract as much as two big ones.
    onehot = sp.csr_matrix((np.ones(clustered.size), (clustered, inverse)), shape=(n, labels.size))
    between = (onehot.T @ adj @ onehot).tocoo()
    volume = np.asarray(between.sum(1)).ravel()
    keep = between.row != between.col
    ties = sp.coo_matrix(
        (
            between.data[keep] / np.sqrt(volume[between.row[keep]] * volume[between.col[keep]]),
            (between.row[keep], between.col[keep]),
        ),
        shape=between.shape,
    )
    start = None if old is None else _community_starts(old, clustered, inverse, ties, radii)
    centres = _layout_communities(ties, radii, rng, start)

    # Level 2: each community inside its disc.
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes.astype(np.int64))])
    members_sorted = clustered[order]
    for c in range(labels.size):
        idx = members_sorted[bounds[c] : bounds[c + 1]]
        seeded = None
        if old is not None:
            seeded = (old[idx] - centres[c]) / radii[c]
        local = _layout_group(adj[idx][:, idx].tocoo(), rng, seeded)
        pos[idx] = centres[c] + local * radii[c]

    _place_unclustered(pos, adj, groups >= 0, rng)
    if old is not None:
        pos = _align(pos, old)
    log.debug("layout: %d nodes, %d communities, seeded=%s", n, labels.size, old is not None)
    return pos


def previous_positions(
    channel: Sequence[str],
    x: Sequence[float],
    y: Sequence[float],
    platform: Sequence[str] | None = None,
) -> dict[Any, tuple[float, float]]:
    """The ``previous`` mapping of :func:`compute_layout` from a run's node columns.

    Keys are ``(platform, channel)`` when ``platform`` is given, else ``channel``; rows with
    a missing or non-finite position are left out.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(xs) & np.isfinite(ys)
    names = list(channel)
    if platform is None:
        keys: list[Any] = names
    else:
        keys = list(zip(platform, names, strict=True))
    return {keys[i]: (float(xs[i]), float(ys[i])) for i in np.flatnonzero(ok).tolist()}


def _seed_positions(
    n: int, previous: Mapping[Any, tuple[float, float]] | None, keys: Sequence[Hashable] | None
) -> np.ndarray | None:
    """Previous positions aligned with the nodes (NaN where unknown), or None if none known."""
    if not previous:
        return None
    if keys is None or len(keys) != n:
        raise ValueError("previous positions need keys, one per node")
    old = np.full((n, 2), np.nan)
    for i, key in enumerate(keys):
        found = previous.get(key)
        if found is None and isinstance(key, tuple) and len(key) == 2:
            found = previous.get(key[1])
        if found is not None:
            old[i] = found
    old[~np.isfinite(old).all(1)] = np.nan
    if np.isnan(old[:, 0]).all():
        return None
    return old


def _community_starts(
    old: np.ndarray,
    clustered: np.ndarray,
    inverse: np.ndarray,
    ties: sp.coo_matrix,
    radii: np.ndarray,
) -> np.ndarray:
    """Starting centres: the mean old position of each community's known members.

    A community with no known member starts beside the communities it is tied to (or outside
    everything when it has no ties to a placed community).
    """
    k = radii.size
    known = np.isfinite(old[clustered, 0])
    count = np.bincount(inverse[known], minlength=k).astype(np.float64)
    start = np.full((k, 2), np.nan)
    for axis in range(2):
        total = np.bincount(inverse[known], old[clustered[known], axis], minlength=k)
        start[:, axis] = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
    placed = count > 0
    if placed.all():
        return start
    tie = ties.tocsr()
    centre = start[placed].mean(0)
    reach = float(np.sqrt(((start[placed] - centre) ** 2).sum(1)).max()) + float(radii.max())
    missing = np.flatnonzero(~placed)
    angle = np.linspace(0.0, 2 * np.pi, missing.size, endpoint=False)
    for slot, c in enumerate(missing.tolist()):
        row = tie.getrow(c)
        w = row.data * placed[row.indices]
        if w.sum() > 0:
            near = np.nan_to_num(start[row.indices])
            start[c] = (near * w[:, None]).sum(0) / w.sum()
        else:
            start[c] = centre + (reach + radii[c]) * np.array(
                [np.cos(angle[slot]), np.sin(angle[slot])]
            )
    return start


def _align(pos: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Rotates and shifts ``pos`` onto the known ``old`` positions (least squares, no scaling)."""
    known = np.isfinite(old[:, 0])
    if known.sum() < 3:
        return pos
    a, b = pos[known], old[known]
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    rotation = u @ vt
    aligned: np.ndarray = (pos - ca) @ rotation + cb
    return aligned


def _adjacency(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
    """Symmetric weighted adjacency without self loops, weights scaled to max 1."""
    keep = (src != dst) & np.isfinite(weight) & (weight > 0)
    s, d, w = src[keep], dst[keep], weight[keep]
    if w.size:
        w = w / w.max()
    mat = sp.coo_matrix((w, (s, d)), shape=(n, n)).tocsr()
    sym: sp.csr_matrix = (mat + mat.T).tocsr()
    sym.sum_duplicates()
    return sym


def _layout_communities(
    ties: sp.coo_matrix, radii: np.ndarray, rng: np.random.Generator, start: np.ndarray | None
) -> np.ndarray:
    """Centres for discs of the given radii: tied communities close, no two overlapping.

    A force model on the community graph (attraction along ties, repulsion that grows while
    two discs overlap), then overlap removal and compaction. Repulsion is exact up to
    ``_SAMPLE`` communities and sampled beyond, so hundreds of communities stay fast. From a
    ``start`` (a previous run), the model runs cold and is pulled back towards it, and only
    overlaps are resolved afterwards.
    """
    k = radii.size
    if k == 1:
        return np.zeros((1, 2)) if start is None else start.copy()
    scale = float(radii.sum())
    if start is None:
        # A spiral by size (largest in the middle) with a little noise.
        rank = np.argsort(np.argsort(-radii, kind="stable"), kind="stable")
        angle = rank * 2.399963  # golden angle
        pos = np.c_[np.cos(angle), np.sin(angle)] * np.sqrt(rank + 0.5)[:, None] * radii.mean()
        pos += rng.normal(scale=1e-3 * scale, size=pos.shape)
        iterations, heat = 150, 0.1
    else:
        pos = start + rng.normal(scale=1e-4 * scale, size=start.shape)
        iterations, heat = 30, 0.0005
    upper = ties.row < ties.col
    bi, bj, bw = ties.row[upper], ties.col[upper], ties.data[upper]
    if bw.size:
        bw = bw / bw.max()
    sample = min(k, _SAMPLE)
    for it in range(iterations):
        others = np.arange(k) if sample == k else rng.choice(k, size=sample, replace=False)
        dx = pos[:, 0, None] - pos[None, others, 0]
        dy = pos[:, 1, None] - pos[None, others, 1]
        dist = np.sqrt(dx * dx + dy * dy) + 1e-9
        need = (radii[:, None] + radii[None, others]) * _GAP
        overlap = np.clip(need - dist, 0.0, None)
        rep = (need * need / dist + 4.0 * overlap) / dist * (k / sample)
        force = np.stack([(rep * dx).sum(1), (rep * dy).sum(1)], axis=1)
        if bw.size:  # attraction along the community graph's ties
            e = pos[bj] - pos[bi]
            pull = (bw * np.sqrt((e**2).sum(-1)) * 0.5 * k)[:, None] * e
            for axis in range(2):
                force[:, axis] += np.bincount(bi, pull[:, axis], minlength=k)
                force[:, axis] -= np.bincount(bj, pull[:, axis], minlength=k)
        force -= 0.05 * pos * radii[:, None]  # gravity: unlinked communities stay near
        cool = 1.0 - it / iterations
        length = np.sqrt((force**2).sum(-1, keepdims=True)) + 1e-12
        step = np.minimum(length, heat * scale * (cool + 0.01))
        pos += force / length * step
    pos = _remove_overlaps(pos, radii)
    return _compact(pos, radii) if start is None else pos


def _compact(pos: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Shrinks towards the centre while pushing overlaps apart: islands, not a scattering.

    Communities without links between them would otherwise drift as far apart as repulsion
    takes them; shrinking in small steps keeps their relative directions.
    """
    weights = radii**2
    for _ in range(15):
        centre = (pos * weights[:, None]).sum(0) / weights.sum()
        pos = _remove_overlaps(centre + (pos - centre) * 0.85, radii, rounds=12)
    return _remove_overlaps(pos, radii)


def _remove_overlaps(pos: np.ndarray, radii: np.ndarray, rounds: int = 200) -> np.ndarray:
    """Pushes apart every pair of discs closer than ``_GAP·(r_i + r_j)``.

    Candidate pairs come from a k-d tree, so this is about O(k log k) a round, not O(k²).
    """
    k = radii.size
    reach = 2.0 * float(radii.max()) * _GAP
    for _ in range(rounds):
        pairs = cKDTree(pos).query_pairs(reach, output_type="ndarray")
        if pairs.size == 0:
            break
        i, j = pairs[:, 0], pairs[:, 1]
        delta = pos[i] - pos[j]
        dist = np.sqrt((delta**2).sum(-1)) + 1e-9
        overlap = (radii[i] + radii[j]) * _GAP - dist
        hit = overlap > 1e-6 * reach
        if not hit.any():
            break
        i, j, delta, dist, overlap = i[hit], j[hit], delta[hit], dist[hit], overlap[hit]
        # Split each push by size: the smaller community moves more.
        share = (radii[j] ** 2 / (radii[i] ** 2 + radii[j] ** 2))[:, None]
        push = (overlap / dist)[:, None] * delta * 0.55
        move = np.zeros_like(pos)
        for axis in range(2):
            move[:, axis] += np.bincount(i, push[:, axis] * share[:, 0], minlength=k)
            move[:, axis] -= np.bincount(j, push[:, axis] * (1 - share[:, 0]), minlength=k)
        pos = pos + move
    return pos


def _layout_group(
    sub: sp.coo_matrix, rng: np.random.Generator, seeded: np.ndarray | None = None
) -> np.ndarray:
    """ForceAtlas2 LinLog layout of one community, filling the unit disc evenly.

    ``seeded`` holds earlier positions in unit-disc coordinates (NaN where unknown): those
    members start there, the others next to their known neighbours, and the model runs
    briefly and cold so the old arrangement survives.
    """
    m = sub.shape[0]
    if m == 1:
        return np.zeros((1, 2))
    if m == 2:
        return np.array([[-0.5, 0.0], [0.5, 0.0]])
    upper = sub.row < sub.col
    i, j, w = sub.row[upper], sub.col[upper], sub.data[upper]
    if w.size:
        w = w / w.max()
    mass = np.bincount(i, minlength=m) + np.bincount(j, minlength=m) + 1.0
    iterations = 60 if m > 50 else 40 if m > 12 else 25
    speed = 0.1 * np.sqrt(m)
    pos = rng.uniform(-1.0, 1.0, size=(m, 2)) * np.sqrt(m)
    if seeded is not None and np.isfinite(seeded[:, 0]).sum() >= 3:
        pos = _seeded_start(seeded, sub, pos) * np.sqrt(m)
        iterations, speed = max(10, iterations // 4), speed * 0.15
    sample = m if m <= _DENSE_LIMIT else _SAMPLE
    # Repulsion scaled to the degree level, and the sample's scaled up to the whole group.
    kr = _SCALING / float(mass.mean()) * m / sample
    gravity = 1.0
    mass32 = mass.astype(np.float32)
    for it in range(iterations):
        others = np.arange(m) if sample == m else rng.choice(m, size=sample, replace=False)
        # float32 pair matrices: half the memory traffic of the dominant O(m·sample) step.
        x, y = pos[:, 0].astype(np.float32), pos[:, 1].astype(np.float32)
        dx = x[:, None] - x[None, others]
        dy = y[:, None] - y[None, others]
        rep = (mass32[:, None] * mass32[None, others]) / (dx * dx + dy * dy + 1e-9)
        disp = kr * np.stack([(rep * dx).sum(1), (rep * dy).sum(1)], axis=1).astype(np.float64)
        if w.size:
            e = pos[j] - pos[i]
            d = np.sqrt((e**2).sum(-1)) + 1e-9
            f = (w * np.log1p(d) / d)[:, None] * e * 4.0  # LinLog attraction
            for axis in range(2):
                disp[:, axis] += np.bincount(i, f[:, axis], minlength=m)
                disp[:, axis] -= np.bincount(j, f[:, axis], minlength=m)
        r = np.sqrt((pos**2).sum(-1, keepdims=True)) + 1e-9
        disp -= gravity * mass[:, None] * pos / r
        cool = 1.0 - it / iterations
        length = np.sqrt((disp**2).sum(-1, keepdims=True)) + 1e-12
        step = np.minimum(length / mass[:, None], speed * (0.05 + cool))
        pos += disp / length * step
    return _fill_disc(pos)


def _seeded_start(seeded: np.ndarray, sub: sp.coo_matrix, fallback: np.ndarray) -> np.ndarray:
    """Known members at their old place; each other one at the mean of its known neighbours."""
    m = seeded.shape[0]
    known = np.isfinite(seeded[:, 0])
    start = np.where(known[:, None], seeded, 0.0)
    adj = sub.tocsr()
    link = adj[:, np.flatnonzero(known)]
    total = np.asarray(link.sum(1)).ravel()
    mean = (link @ start[known]) / np.where(total > 0, total, 1.0)[:, None]
    jitter = fallback / np.sqrt(m) * 0.05
    linked = ~known & (total > 0)
    start[linked] = mean[linked] + jitter[linked]
    alone = ~known & (total <= 0)
    start[alone] = fallback[alone] / np.sqrt(m)
    return start


def _fill_disc(pos: np.ndarray) -> np.ndarray:
    """Centres the group and equalises radii so members fill the unit disc evenly.

    The member with the ``q``-th smallest radius (as a fraction of the group) moves, along
    its own direction, to radius ``sqrt(q)``: uniform density over the disc, order of
    distance from the centre kept.
    """
    m = pos.shape[0]
    pos = pos - np.median(pos, axis=0)
    r = np.sqrt((pos**2).sum(-1))
    rank = np.empty(m)
    rank[np.argsort(r, kind="stable")] = np.arange(m)
    target = np.sqrt((rank + 0.5) / m)
    direction = pos / np.where(r > 1e-12, r, 1.0)[:, None]
    still = r <= 1e-12  # members exactly at the centre get a direction of their own
    if still.any():
        angle = np.arange(still.sum()) * 2.399963
        direction[still] = np.c_[np.cos(angle), np.sin(angle)]
    result: np.ndarray = direction * target[:, None]
    return result


def _place_unclustered(
    pos: np.ndarray, adj: sp.csr_matrix, clustered: np.ndarray, rng: np.random.Generator
) -> None:
    """Unclustered nodes at the weighted mean of their clustered neighbours; orphans on a ring."""
    loose = np.flatnonzero(~clustered)
    if loose.size == 0:
        return
    to_clustered = adj[loose][:, np.flatnonzero(clustered)]
    total = np.asarray(to_clustered.sum(1)).ravel()
    mean = (to_clustered @ pos[clustered]) / np.where(total > 0, total, 1.0)[:, None]
    placed = pos[clustered]
    spread = float(np.ptp(placed, axis=0).max()) if placed.size else 1.0
    spread = spread or 1.0
    linked = total > 0
    pos[loose[linked]] = mean[linked] + rng.normal(scale=0.01 * spread, size=(linked.sum(), 2))
    orphans = loose[~linked]
    if orphans.size:
        centre = placed.mean(0) if placed.size else np.zeros(2)
        reach = (
            float(np.sqrt(((placed - centre) ** 2).sum(-1)).max()) if placed.size else 1.0
        ) or 1.0
        angle = np.linspace(0.0, 2 * np.pi, orphans.size, endpoint=False)
        pos[orphans] = centre + np.c_[np.cos(angle), np.sin(angle)] * reach * 1.08


def node_keys(nodes: pa.Table) -> list[Any]:
    """The ``keys`` of :func:`compute_layout` for a nodes table: ``(platform, channel)``, or
    ``channel`` when the table has no platform column."""
    channel = [str(c) for c in nodes.column("channel").to_pylist()]
    if "platform" not in nodes.column_names:
        return list(channel)
    platform = [str(p) for p in nodes.column("platform").to_pylist()]
    return list(zip(platform, channel, strict=True))


def previous_positions_of(nodes: pa.Table) -> dict[Any, tuple[float, float]]:
    """The ``previous`` mapping of :func:`compute_layout` from an earlier run's nodes table
    (``x``, ``y`` and the identity columns); empty when it has no positions."""
    if not {"channel", "x", "y"} <= set(nodes.column_names):
        return {}
    keys = node_keys(nodes)
    xs = np.asarray(nodes.column("x").fill_null(np.nan).to_numpy(), dtype=np.float64)
    ys = np.asarray(nodes.column("y").fill_null(np.nan).to_numpy(), dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    return {keys[i]: (float(xs[i]), float(ys[i])) for i in ok.tolist()}
