"""``atlas.png`` and ``atlas.svg``: the static map, drawn with matplotlib (Agg / SVG backends).

Readable at 5,000 nodes and 100,000 edges: edges are the strongest edges rasterised into one
image, faint and thin, links between communities under the links inside them; nodes are one
``scatter`` with area by viewers and colour by community; the largest communities get their
name at their centre and their biggest channels their names beside them, with a white halo,
none overlapping another; a legend lists the communities with sizes, in type that stays
readable when the page is printed (the figure is 12 × 10 inches; text 7–13 pt). The SVG is
the same figure for print: nodes and text as vectors, the edge layer as an embedded image.
"""

from __future__ import annotations

import logging
import textwrap
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

__all__ = ["render_png", "render_svg"]

MAX_EDGES = 100_000
NAMED_COMMUNITIES = 25  # names on the map; the legend lists as many
LEGEND_ENTRIES = 24
CHANNELS_PER_COMMUNITY = 3  # the biggest channels of each named community get their name
_FIG_IN = (12.0, 10.0)  # inches: width; the height follows the layout's aspect
_MAP_WIDTH = 0.77  # of the figure's width; the legend column takes the rest
_TITLE_IN = 0.6  # inches above the map for the title


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


def _wrap(text: str, width: int, lines: int = 2) -> str:
    """A name on up to ``lines`` lines of about ``width`` characters, so it keeps its meaning
    instead of being cut; only a name longer than that (a hostile one) ends in "…"."""
    parts = textwrap.wrap(" ".join(text.split()), width, break_long_words=True) or [""]
    if len(parts) > lines:
        parts = [*parts[: lines - 1], _clip(" ".join(parts[lines - 1 :]), width)]
    return "\n".join(p.replace("$", r"\$") if not p.endswith("…") else p for p in parts)


def _clip(text: str, limit: int = 40) -> str:
    """One line, at most ``limit`` characters, ``$`` escaped so mathtext never parses it."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _edge_image(data: AtlasData, box: tuple[float, float, float, float], side: int) -> np.ndarray:
    """The strongest edges rasterised straight into an RGBA image, ``side`` pixels wide.

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
    high = max(round((box[3] - box[2]) * scale) + 1, 2)
    px = ((np.nan_to_num(data.x) - box[0]) * scale).astype(np.float32)
    py = ((np.nan_to_num(data.y) - box[2]) * scale).astype(np.float32)
    rgb = to_rgba_array(data.color)[:, :3].astype(np.float32)
    same = data.community[s] == data.community[t]
    # Links between communities first, so the links inside are drawn over them.
    first = np.argsort(same, kind="stable")
    chosen, s, t, same = chosen[first], s[first], t[first], same[first]
    colour = np.where(same[:, None], rgb[s], np.float32(0.42))
    w = np.nan_to_num(data.weight[chosen])
    rel = (w / w.max() if w.size and w.max() > 0 else np.ones_like(w)).astype(np.float32)
    # Opacity per sample: few edges stay visible, 100k edges are each nearly transparent.
    base = float(np.clip(18.0 / np.sqrt(max(chosen.size, 1)), 0.04, 0.5))
    alpha = base * (0.3 + 0.7 * rel)
    x0, y0, dx, dy = px[s], py[s], px[t] - px[s], py[t] - py[s]
    # One sample every ~1.5 px; the image is drawn smoothed, so the gaps never show.
    steps = np.minimum(np.ceil(np.hypot(dx, dy) / 1.5).astype(np.int64), 4 * side) + 1
    acc = np.zeros((4, high * side), dtype=np.float64)  # alpha, alpha·r, alpha·g, alpha·b
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
        pixel = np.clip(sy, 0, high - 1) * side + np.clip(sx, 0, side - 1)
        a = np.repeat(alpha[lo:hi], n)
        acc[0] += np.bincount(pixel, a, minlength=high * side)
        for channel in range(3):
            tint = np.repeat(alpha[lo:hi] * colour[lo:hi, channel], n)
            acc[channel + 1] += np.bincount(pixel, tint, minlength=high * side)
    total = acc[0]
    image = np.zeros((high * side, 4), dtype=np.float32)
    hit = total > 0
    image[hit, :3] = (acc[1:, hit] / total[hit]).T
    image[:, 3] = 1.0 - np.exp(-total)
    return image.reshape(high, side, 4)


def render_png(
    data: AtlasData, path: Path | IO[bytes], *, size_px: int = 2400, dpi: int = 200
) -> None:
    """Draws the map into ``path`` (a file name or binary file; PNG, ``size_px`` wide)."""
    with warnings.catch_warnings():
        # Names in scripts DejaVu lacks (CJK, emoji) draw as boxes; no need to warn per glyph.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = _figure(data, size_px / (_FIG_IN[0] * dpi), dpi, vector=False)
        fig.savefig(path, format="png", dpi=dpi, facecolor="white")


def render_svg(data: AtlasData, path: Path | IO[bytes]) -> None:
    """The same map as SVG for print: nodes and text as vectors, the edges as an image."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = _figure(data, 1.0, 150, vector=True)
        fig.savefig(path, format="svg", dpi=150, facecolor="white", metadata={"Date": None})


def _figure(data: AtlasData, scale: float, dpi: int, *, vector: bool) -> Figure:
    """The whole figure: edge image, nodes, names, legend, title.

    12 inches wide (× ``scale``); the map takes the left ``_MAP_WIDTH`` and is as tall as
    the layout's aspect needs (within 0.6–1.15 of its width), so no band of the page is
    left empty; the legend fills the right-hand column.
    """
    x, y = np.nan_to_num(data.x), np.nan_to_num(data.y)
    box = (0.0, 1.0, 0.0, 1.0)
    if data.n:
        wide = max(float(np.ptp(x)), 1e-9)
        tall = float(np.clip(float(np.ptp(y)), 0.6 * wide, 1.15 * wide))
        cx, cy = (float(x.min()) + float(x.max())) / 2, (float(y.min()) + float(y.max())) / 2
        pad = 0.03 * max(wide, tall)
        box = (cx - wide / 2 - pad, cx + wide / 2 + pad, cy - tall / 2 - pad, cy + tall / 2 + pad)
    map_w = _FIG_IN[0] * _MAP_WIDTH
    map_h = map_w * (box[3] - box[2]) / (box[1] - box[0])
    height = map_h + _TITLE_IN
    fig = Figure(figsize=(_FIG_IN[0] * scale, height * scale), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.0, 0.0, _MAP_WIDTH, map_h / height))
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])

    if data.src.size:
        side = int(map_w * scale * dpi * 0.55)  # upsampled smoothly; faint edges need no more
        image = _edge_image(data, box, side)
        ax.imshow(image, extent=box, origin="lower", interpolation="antialiased", zorder=1)

    if data.n:
        v = np.maximum(data.viewers.astype(np.float64), 0.0)
        # Marker area (pt²) by sqrt(viewers), smaller when there are many nodes.
        crowd = float(np.clip(np.sqrt(1500.0 / max(data.n, 1)), 0.35, 2.0)) * scale**2
        area = (1.0 + 140.0 * np.sqrt(v / v.max())) * crowd if v.max() > 0 else np.full(data.n, 6.0)
        order = np.argsort(-area, kind="stable")  # small nodes on top of big ones
        ax.scatter(
            x[order],
            y[order],
            s=area[order],
            c=[data.color[i] for i in order],
            linewidths=0.2,
            edgecolors="white",
            rasterized=not vector,
            zorder=2,
        )
    _names(fig, ax, data, x, y, scale)
    _legend(fig, data, scale, top=map_h / height)
    fig.suptitle(_title(data), fontsize=12 * scale, y=1 - 0.06 / height, va="top")
    log.debug("map figure: %d nodes, %d edges drawn", data.n, min(data.src.size, MAX_EDGES))
    return fig


def _names(
    fig: Figure, ax: Any, data: AtlasData, x: np.ndarray, y: np.ndarray, scale: float
) -> None:
    """Community names at their centres, then their biggest channels' names beside them.

    Largest communities first; a name that would overlap one already placed is left out
    (the community keeps its legend entry and colour, the channel its dot).
    """
    halo = [pe.withStroke(linewidth=3 * scale, foreground="white")]
    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]
    frame = ax.get_window_extent(renderer)
    placed: list[Bbox] = []

    def place(text: Any, pad: float) -> bool:
        extent = text.get_window_extent(renderer)
        shift = max(frame.x0 - extent.x0, 0.0) - max(extent.x1 - frame.x1, 0.0)
        if shift:  # a name at the rim would be cut: slide it inside the frame
            px, py = ax.transData.transform(text.get_position())
            nx, ny = ax.transData.inverted().transform((px + shift, py))
            text.set_position((float(nx), float(ny)))
            extent = text.get_window_extent(renderer)
        extent = extent.expanded(1.0 + pad, 1.0 + 2 * pad)
        if any(extent.overlaps(other) for other in placed):
            text.remove()
            return False
        placed.append(extent)
        return True

    named = []
    for comm in data.communities[:NAMED_COMMUNITIES]:
        members = np.flatnonzero(data.community == comm.id)
        if not members.size:
            continue
        fontsize = float(np.clip(4 + np.log2(max(comm.size, 1)), 8, 12)) * scale
        text = ax.text(
            float(np.median(x[members])),
            float(np.median(y[members])),
            _wrap(comm.label, 24),
            ha="center",
            va="center",
            fontsize=fontsize,
            fontweight="bold",
            color="#1a1a1a",
            path_effects=halo,
            zorder=4,
        )
        place(text, 0.05)
        named.append(members)
    thin = [pe.withStroke(linewidth=2 * scale, foreground="white")]
    for members in named:
        biggest = members[np.argsort(-data.viewers[members], kind="stable")]
        for node in biggest[:CHANNELS_PER_COMMUNITY].tolist():
            text = ax.annotate(
                _clip(data.label[node], 24),
                (float(x[node]), float(y[node])),
                xytext=(4 * scale, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=7.5 * scale,
                color="#333333",
                path_effects=thin,
                zorder=3,
            )
            place(text, 0.02)


def _legend(fig: Figure, data: AtlasData, scale: float, top: float) -> None:
    """The communities with their sizes, in print-readable type, in the right-hand column."""
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=8 * scale,
            markerfacecolor=c.color,
            markeredgewidth=0,
            label=_wrap(f"{c.label} ({c.size:,})", 30),
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
            loc="upper left",
            fontsize=8.5 * scale,
            title=title,
            title_fontsize=9.5 * scale,
            frameon=False,
            alignment="left",
            handletextpad=0.3,
            labelspacing=0.45,
            bbox_to_anchor=(_MAP_WIDTH + 0.005, top),
        )
        legend.set_zorder(4)
