"""``atlas.png``: the static map, drawn with matplotlib's Agg backend.

Readable at 5,000 nodes and 100,000 edges: edges are one rasterised ``LineCollection`` of
the strongest edges, faint and thin, under the nodes; nodes are one ``scatter`` with area by
viewers and colour by community; the largest communities get their name at their centroid
with a white halo; a legend lists them with sizes.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import IO, Any

import matplotlib

matplotlib.use("Agg")  # never a GUI backend, even when imported into a notebook session

import matplotlib.patheffects as pe
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vieweratlas.render.model import AtlasData

log = logging.getLogger(__name__)

__all__ = ["render_png"]

MAX_EDGES = 100_000
NAMED_COMMUNITIES = 25  # names on the map; the legend lists as many
LEGEND_ENTRIES = 20


def _title(data: AtlasData) -> str:
    counts: dict[str, Any] = dict(data.summary.get("counts") or {})
    window: dict[str, Any] = dict(data.summary.get("window") or {})
    since = str(window.get("since") or "?")[:16].replace("T", " ")
    until = str(window.get("until") or "?")[:16].replace("T", " ")
    parts = [
        f"{counts.get('channels', data.n):,} channels",
        f"{counts.get('edges', data.src.size):,} links",
        f"{counts.get('communities', len(data.communities)):,} communities",
    ]
    if counts.get("viewers") is not None:
        parts.append(f"{int(counts['viewers']):,} viewers")
    return _clip(f"ViewerAtlas · {since} → {until} UTC", 80) + "\n" + " · ".join(parts)


def _clip(text: str, limit: int = 40) -> str:
    """One line, at most ``limit`` characters, ``$`` escaped so mathtext never parses it."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def render_png(
    data: AtlasData, path: Path | IO[bytes], *, size_px: int = 2400, dpi: int = 200
) -> None:
    """Draws the map into ``path`` (a file name or binary file; PNG, ``size_px`` square)."""
    inches = size_px / dpi
    fig = Figure(figsize=(inches, inches), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.0, 0.0, 0.8, 0.93))  # the right fifth holds the legend
    ax.set_axis_off()
    ax.set_aspect("equal")
    x, y = data.x, data.y
    if data.n:
        pad = 0.04 * max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
        ax.set_xlim(float(x.min()) - pad, float(x.max()) + pad)
        ax.set_ylim(float(y.min()) - pad, float(y.max()) + pad)

    if data.src.size:
        chosen = data.strongest_edges(MAX_EDGES)[::-1]  # heaviest drawn last, on top
        s, t = data.src[chosen], data.dst[chosen]
        segments = np.stack([np.c_[x[s], y[s]], np.c_[x[t], y[t]]], axis=1)
        node_rgba = to_rgba_array(data.color)
        same = data.community[s] == data.community[t]
        colours = np.where(same[:, None], node_rgba[s], np.array([0.45, 0.45, 0.45, 1.0]))
        w = data.weight[chosen]
        rel = w / w.max() if w.max() > 0 else np.ones_like(w)
        # Few edges: visible; 100k edges: each nearly transparent so only bundles show.
        base = float(np.clip(30.0 / np.sqrt(chosen.size), 0.02, 0.35))
        colours[:, 3] = base * (0.4 + 0.6 * rel)
        lines = LineCollection(
            list(segments), colors=colours, linewidths=0.15 + 0.6 * rel, rasterized=True, zorder=1
        )
        ax.add_collection(lines)

    if data.n:
        v = np.maximum(data.viewers.astype(np.float64), 0.0)
        # Marker area (pt²) by sqrt(viewers), smaller when there are many nodes.
        crowd = float(np.clip(np.sqrt(1500.0 / max(data.n, 1)), 0.35, 2.0))
        area = (1.0 + 140.0 * np.sqrt(v / v.max())) * crowd if v.max() > 0 else np.full(data.n, 6.0)
        order = np.argsort(-area, kind="stable")  # small nodes on top of big ones
        ax.scatter(
            x[order],
            y[order],
            s=area[order],
            c=[data.color[i] for i in order],
            linewidths=0.2,
            edgecolors="white",
            rasterized=True,
            zorder=2,
        )

    halo = [pe.withStroke(linewidth=3, foreground="white")]
    for comm in data.communities[:NAMED_COMMUNITIES]:
        members = data.community == comm.id
        if not members.any():
            continue
        fontsize = float(np.clip(5 + np.log2(max(comm.size, 1)), 6, 13))
        ax.text(
            float(np.median(x[members])),
            float(np.median(y[members])),
            _clip(comm.label, 32),
            ha="center",
            va="center",
            fontsize=fontsize,
            fontweight="bold",
            color="#202020",
            path_effects=halo,
            zorder=3,
        )

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=6,
            markerfacecolor=c.color,
            markeredgewidth=0,
            label=f"{_clip(c.label, 34)} ({c.size:,})",
        )
        for c in data.communities[:LEGEND_ENTRIES]
    ]
    if handles:
        hidden = len(data.communities) - len(handles)
        title = "communities" + (
            f" (largest {len(handles)} of {len(handles) + hidden})" if hidden else ""
        )
        legend = fig.legend(
            handles=handles,
            loc="center right",
            fontsize=6,
            title=title,
            title_fontsize=7,
            frameon=True,
            framealpha=0.85,
            bbox_to_anchor=(0.995, 0.5),
        )
        legend.set_zorder(4)
    fig.suptitle(_title(data), fontsize=10, y=0.985)
    with warnings.catch_warnings():
        # Names in scripts DejaVu lacks (CJK, emoji) draw as boxes; no need to warn per glyph.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(path, format="png", dpi=dpi, facecolor="white")
    log.debug("png: %d nodes, %d edges drawn", data.n, min(data.src.size, MAX_EDGES))
