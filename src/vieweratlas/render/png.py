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

import matplotlib.patheffects as pe
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

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


def _edge_image(data: AtlasData, box: tuple[float, float, float, float], side: int) -> np.ndarray:
    """The strongest edges rasterised straight into an RGBA image (``side`` pixels square).

    Each edge is sampled once per pixel along its length; samples add up their opacity and
    colour per pixel (``np.bincount``), and overlapping edges compound as ``1 - exp(-sum)``,
    so bundles of faint links show as density rather than as a grey hairball. Intra-community
    edges take the community colour, others grey; opacity grows with the edge weight.
    This is a few hundred milliseconds for 100,000 edges where a ``LineCollection`` takes
    seconds.
    """
    chosen = data.strongest_edges(MAX_EDGES)
    s, t = data.src[chosen], data.dst[chosen]
    scale = (side - 1) / (box[1] - box[0])
    px = ((np.nan_to_num(data.x) - box[0]) * scale).astype(np.float32)
    py = ((np.nan_to_num(data.y) - box[2]) * scale).astype(np.float32)
    rgb = to_rgba_array(data.color)[:, :3].astype(np.float32)
    same = data.community[s] == data.community[t]
    colour = np.where(same[:, None], rgb[s], np.float32(0.42))
    w = np.nan_to_num(data.weight[chosen])
    rel = (w / w.max() if w.size and w.max() > 0 else np.ones_like(w)).astype(np.float32)
    # Opacity per sample: few edges stay visible, 100k edges are each nearly transparent.
    base = float(np.clip(12.0 / np.sqrt(max(chosen.size, 1)), 0.03, 0.5))
    alpha = base * (0.3 + 0.7 * rel) * np.where(same, 1.0, 0.6).astype(np.float32)
    x0, y0, dx, dy = px[s], py[s], px[t] - px[s], py[t] - py[s]
    # One sample every ~1.5 px; the image is drawn smoothed, so the gaps never show.
    steps = np.minimum(np.ceil(np.hypot(dx, dy) / 1.5).astype(np.int64), 4 * side) + 1
    acc = np.zeros((4, side * side), dtype=np.float64)  # alpha, alpha·r, alpha·g, alpha·b
    chunk_ends = np.searchsorted(np.cumsum(steps), np.arange(1, 64) * 4_000_000)
    for lo, hi in zip(np.r_[0, chunk_ends], np.r_[chunk_ends, steps.size], strict=True):
        if hi <= lo:
            continue
        n = steps[lo:hi]
        edge = np.repeat(np.arange(lo, hi, dtype=np.int32), n)
        first = np.repeat(np.cumsum(n) - n, n)
        frac = (np.arange(edge.size, dtype=np.float32) - first) * np.repeat(
            (1.0 / np.maximum(n - 1, 1)).astype(np.float32), n
        )
        sx = (np.repeat(x0[lo:hi], n) + frac * np.repeat(dx[lo:hi], n) + 0.5).astype(np.int32)
        sy = (np.repeat(y0[lo:hi], n) + frac * np.repeat(dy[lo:hi], n) + 0.5).astype(np.int32)
        # Positions lie inside the box by construction; clip guards rounding at the rim.
        pixel = np.clip(sy, 0, side - 1) * side + np.clip(sx, 0, side - 1)
        a = np.repeat(alpha[lo:hi], n)
        acc[0] += np.bincount(pixel, a, minlength=side * side)
        for channel in range(3):
            tint = np.repeat(alpha[lo:hi] * colour[lo:hi, channel], n)
            acc[channel + 1] += np.bincount(pixel, tint, minlength=side * side)
    total = acc[0]
    image = np.zeros((side * side, 4), dtype=np.float32)
    hit = total > 0
    image[hit, :3] = (acc[1:, hit] / total[hit]).T
    image[:, 3] = 1.0 - np.exp(-total)
    return image.reshape(side, side, 4)


def render_png(
    data: AtlasData, path: Path | IO[bytes], *, size_px: int = 2400, dpi: int = 200
) -> None:
    """Draws the map into ``path`` (a file name or binary file; PNG, ``size_px`` square)."""
    with warnings.catch_warnings():
        # Names in scripts DejaVu lacks (CJK, emoji) draw as boxes; no need to warn per glyph.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        _render(data, path, size_px, dpi)


def _render(data: AtlasData, path: Path | IO[bytes], size_px: int, dpi: int) -> None:
    inches = size_px / dpi
    fig = Figure(figsize=(inches, inches), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.0, 0.0, 0.8, 0.93))  # the right fifth holds the legend
    ax.set_axis_off()
    ax.set_aspect("equal")
    x, y = np.nan_to_num(data.x), np.nan_to_num(data.y)
    box = (0.0, 1.0, 0.0, 1.0)
    if data.n:
        # A square data box, so the equal aspect never moves the limits under the edge image.
        half = 0.54 * max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
        cx, cy = (float(x.min()) + float(x.max())) / 2, (float(y.min()) + float(y.max())) / 2
        box = (cx - half, cx + half, cy - half, cy + half)
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])

    if data.src.size:
        side = int(size_px * 0.55)  # upsampled smoothly by imshow; faint edges need no more
        image = _edge_image(data, box, side)
        ax.imshow(image, extent=box, origin="lower", interpolation="antialiased", zorder=1)

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
    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]
    placed: list[Bbox] = []
    for comm in data.communities[:NAMED_COMMUNITIES]:
        members = data.community == comm.id
        if not members.any():
            continue
        fontsize = float(np.clip(3 + np.log2(max(comm.size, 1)), 6, 11))
        text = ax.text(
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
        # Largest communities first; a smaller one whose name would overlap goes unnamed
        # on the map (it keeps its legend entry and its colour).
        extent = text.get_window_extent(renderer)
        frame = ax.get_window_extent(renderer)
        shift = max(frame.x0 - extent.x0, 0.0) - max(extent.x1 - frame.x1, 0.0)
        if shift:  # a name at the rim would be cut: slide it inside the frame
            px, py = ax.transData.transform(text.get_position())
            nx, ny = ax.transData.inverted().transform((px + shift, py))
            text.set_position((float(nx), float(ny)))
            extent = text.get_window_extent(renderer)
        extent = extent.expanded(1.05, 1.15)
        if any(extent.overlaps(other) for other in placed):
            text.remove()
        else:
            placed.append(extent)

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
    fig.savefig(path, format="png", dpi=dpi, facecolor="white")
    log.debug("png: %d nodes, %d edges drawn", data.n, min(data.src.size, MAX_EDGES))
