"""The atlas's view of a run: nodes, edges and communities as arrays, with colours.

Every writer (PNG, SVG, HTML, GEXF, JSON) starts from one :class:`AtlasData`, built once from
the run's Arrow tables, so all of them agree on colours, labels and which edges exist.

Colour: at hundreds of communities no palette stays distinct, so only the biggest
``COLOURED_COMMUNITIES`` get palette colours; the rest get muted, greyish tints (told apart on
the map by place, in the legend by name). Optional node columns (``platform``,
``confidence``, ``bridge``, ``subcommunity``) are carried when the run has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "COLOURED_COMMUNITIES",
    "UNCLUSTERED_COLOR",
    "AtlasData",
    "build_atlas_data",
    "community_palette",
]

UNCLUSTERED_COLOR = "#9a9a9a"
COLOURED_COMMUNITIES = 20  # the biggest communities in palette colours, the rest muted

# Tableau 20, reordered so neighbouring ranks differ strongly; beyond it, golden-angle hues.
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#637939", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
    "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#393b79",
]  # fmt: skip


def community_palette(count: int, coloured: int = COLOURED_COMMUNITIES) -> list[str]:
    """``count`` colours as ``#rrggbb``: the first ``coloured`` distinct, the rest muted tints.

    Muted tints are greys with a faint golden-angle hue, so neighbouring small communities
    still differ a little without competing with the big ones.
    """
    colours = _PALETTE[: min(count, coloured)]
    for rank in range(len(colours), min(count, coloured)):
        hue = (rank * 0.381966) % 1.0
        light = 0.45 + 0.15 * ((rank // 7) % 2)
        colours.append(_hsl_hex(hue, 0.65, light))
    for rank in range(len(colours), count):
        colours.append(_hsl_hex((rank * 0.381966) % 1.0, 0.16, 0.74 + 0.06 * (rank % 2)))
    return colours


def _hsl_hex(h: float, s: float, lum: float) -> str:
    c = (1 - abs(2 * lum - 1)) * s
    x = c * (1 - abs((h * 6) % 2 - 1))
    m = lum - c / 2
    sector = int(h * 6) % 6
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][sector]
    return "#{:02x}{:02x}{:02x}".format(*(round((v + m) * 255) for v in (r, g, b)))


@dataclass(frozen=True)
class Community:
    """One community as drawn: id, name, colour, member count and viewers."""

    id: int
    label: str
    color: str
    size: int
    viewers: int
    top_channels: str
    games: str
    languages: str


@dataclass(frozen=True)
class AtlasData:
    """Nodes (arrays indexed 0..n-1), edges as index pairs, communities by size."""

    channel: list[str]
    platform: list[str]  # "" where the run has no platform column
    key: list[str]  # unique identity: channel, or platform/channel when platforms mix
    label: list[str]  # what a node is shown as: display name, else channel
    game: list[str | None]
    language: list[str | None]
    title: list[str | None]
    community: np.ndarray  # int64, -1 = unclustered
    viewers: np.ndarray  # int64
    degree: np.ndarray  # int64
    strength: np.ndarray  # float64
    x: np.ndarray  # float64
    y: np.ndarray  # float64
    color: list[str]  # per node
    src: np.ndarray  # int64 node index
    dst: np.ndarray  # int64 node index
    shared: np.ndarray  # int64
    weight: np.ndarray  # float64
    communities: list[Community]
    summary: Mapping[str, Any]
    confidence: np.ndarray | None = None  # float64 0–1 per node, NaN unknown
    bridge: np.ndarray | None = None  # bool per node
    subcommunity: list[str | None] | None = None

    @property
    def platforms(self) -> list[str]:
        """The distinct platforms present (empty when the run has no platform column)."""
        return sorted({p for p in self.platform if p})

    @property
    def n(self) -> int:
        return len(self.channel)

    def strongest_edges(self, limit: int) -> np.ndarray:
        """Indices of the ``limit`` heaviest edges (by weight, then shared), heaviest first."""
        order = np.lexsort((-self.shared, -self.weight))
        return order[:limit]

    def top_neighbours(self, k: int = 5) -> list[list[tuple[int, int]]]:
        """Per node, up to ``k`` (neighbour index, shared viewers), most similar first.

        Similarity is the cosine of the two audiences, ``shared / sqrt(viewers_a ·
        viewers_b)``: raw shared counts would rank the biggest channel first for everyone.
        """
        a = np.concatenate([self.src, self.dst])
        b = np.concatenate([self.dst, self.src])
        s = np.concatenate([self.shared, self.shared])
        v = np.maximum(self.viewers.astype(np.float64), 1.0)
        cosine = s / np.sqrt(v[a] * v[b])
        order = np.lexsort((-s, -cosine, a))
        a, b, s = a[order], b[order], s[order]
        starts = np.searchsorted(a, np.arange(self.n))
        rank = np.arange(a.size) - starts[a]
        keep = rank < k
        result: list[list[tuple[int, int]]] = [[] for _ in range(self.n)]
        for node, other, count in zip(
            a[keep].tolist(), b[keep].tolist(), s[keep].tolist(), strict=True
        ):
            result[node].append((other, count))
        return result


def _column(table: pa.Table, name: str, default: Any = None) -> list[Any]:
    if name in table.column_names:
        return list(table.column(name).to_pylist())
    return [default] * table.num_rows


def _numeric(table: pa.Table, name: str, dtype: type, default: float = 0) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=dtype)
    col = table.column(name).fill_null(default)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)


def _optional_float(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return _numeric(table, name, np.float64, np.nan)


def build_atlas_data(
    nodes: pa.Table, edges: pa.Table, communities: pa.Table, summary: Mapping[str, Any]
) -> AtlasData:
    """Validates the run's tables and turns them into arrays; edges to unknown channels drop."""
    channel = [str(c) for c in _column(nodes, "channel")]
    platform = [str(p or "") for p in _column(nodes, "platform", "")]
    mixed = len({p for p in platform if p}) > 1
    key = [f"{p}/{c}" if mixed else c for p, c in zip(platform, channel, strict=True)]
    if len(set(zip(platform, channel, strict=True))) != len(channel):
        raise ValueError("nodes (platform, channel) must be unique")
    index = {(p, c): i for i, (p, c) in enumerate(zip(platform, channel, strict=True))}
    by_name: dict[str, int] = {}
    for i, c in enumerate(channel):
        by_name.setdefault(c, i)
    # A node is shown by its display name when the run has one, else by its channel login.
    # (``nodes.label`` is the node's *community* label; communities come from their table.)
    shown = _column(nodes, "display_name")
    label = [str(d) if d else c for d, c in zip(shown, channel, strict=True)]
    community = _numeric(nodes, "community", np.int64, -1)
    viewers = _numeric(nodes, "viewers", np.int64, 0)

    source = _endpoints(edges, "source", index, by_name)
    target = _endpoints(edges, "target", index, by_name)
    src = np.asarray(source, dtype=np.int64)
    dst = np.asarray(target, dtype=np.int64)
    shared = _numeric(edges, "shared", np.int64, 0)
    weight = _numeric(edges, "weight", np.float64, 0.0)
    known = (src >= 0) & (dst >= 0) & (src != dst)
    src, dst, shared, weight = src[known], dst[known], shared[known], weight[known]
    # One undirected edge per pair: (a, b) and (b, a) are the same link; keep the first.
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    _, first = np.unique(lo * max(len(channel), 1) + hi, return_index=True)
    first.sort()
    src, dst, shared, weight = lo[first], hi[first], shared[first], weight[first]

    n = len(channel)
    degree = (np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)).astype(np.int64)
    strength = np.bincount(src, weight, minlength=n) + np.bincount(dst, weight, minlength=n)
    if "degree" in nodes.column_names:
        degree = _numeric(nodes, "degree", np.int64, 0)
    if "strength" in nodes.column_names:
        strength = _numeric(nodes, "strength", np.float64, 0.0)

    comms = _communities(communities, community, viewers, _column(nodes, "label"))
    colour_of = {c.id: c.color for c in comms}
    color = [colour_of.get(int(c), UNCLUSTERED_COLOR) for c in community]
    bridge = None
    if "bridge" in nodes.column_names:
        bridge = np.asarray(nodes.column("bridge").fill_null(False).to_pylist(), dtype=bool)
    subcommunity = None
    if "subcommunity" in nodes.column_names:
        subcommunity = [None if v is None else str(v) for v in _column(nodes, "subcommunity")]
    return AtlasData(
        channel=channel,
        platform=platform,
        key=key,
        label=label,
        game=[None if g is None else str(g) for g in _column(nodes, "game")],
        language=[None if v is None else str(v) for v in _column(nodes, "language")],
        title=[None if t is None else str(t) for t in _column(nodes, "title")],
        community=community,
        viewers=viewers,
        degree=degree,
        strength=np.asarray(strength, dtype=np.float64),
        x=_numeric(nodes, "x", np.float64, 0.0),
        y=_numeric(nodes, "y", np.float64, 0.0),
        color=color,
        src=src,
        dst=dst,
        shared=shared,
        weight=weight,
        communities=comms,
        summary=summary,
        confidence=_optional_float(nodes, "confidence"),
        bridge=bridge,
        subcommunity=subcommunity,
    )


def _endpoints(
    edges: pa.Table, side: str, index: dict[tuple[str, str], int], by_name: dict[str, int]
) -> list[int]:
    """Node indices of one edge end: by (platform, channel) when the edges say the platform,
    else by channel name; -1 where unknown."""
    names = [str(v) for v in _column(edges, side)]
    if f"{side}_platform" in edges.column_names:
        platforms = [str(p or "") for p in _column(edges, f"{side}_platform")]
        return [
            index.get((p, c), by_name.get(c, -1) if not p else -1)
            for p, c in zip(platforms, names, strict=True)
        ]
    return [by_name.get(c, -1) for c in names]


def _communities(
    table: pa.Table, community: np.ndarray, viewers: np.ndarray, node_labels: list[Any]
) -> list[Community]:
    """Communities ordered by size (then id), each given a palette colour in that order."""
    rows: dict[int, dict[str, Any]] = {}
    # Names from the nodes' label column, for communities missing from the table.
    named = {int(c): str(x) for c, x in zip(community.tolist(), node_labels, strict=True) if x}
    for row in table.to_pylist():
        if row.get("community") is None or int(row["community"]) < 0:
            continue
        rows[int(row["community"])] = row
    present = np.unique(community[community >= 0]).tolist()
    for cid in present:  # a community missing from the table still gets a legend entry
        rows.setdefault(int(cid), {"community": int(cid), "label": named.get(int(cid))})
    sizes = {int(c): int(s) for c, s in zip(*np.unique(community, return_counts=True), strict=True)}
    totals = {int(c): int(viewers[community == c].sum()) for c in rows if sizes.get(int(c), 0) > 0}
    ordered = sorted(rows, key=lambda c: (-int(rows[c].get("size") or sizes.get(c, 0)), c))
    palette = community_palette(len(ordered))
    result = []
    for cid, colour in zip(ordered, palette, strict=True):
        row = rows[cid]
        result.append(
            Community(
                id=cid,
                label=str(row.get("label") or f"community {cid}"),
                color=colour,
                size=int(row.get("size") or sizes.get(cid, 0)),
                viewers=int(row.get("viewers") or totals.get(cid, 0)),
                top_channels=str(row.get("top_channels") or ""),
                games=str(row.get("games") or ""),
                languages=str(row.get("languages") or ""),
            )
        )
    return result
