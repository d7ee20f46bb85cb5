"""``evolution.png`` and ``evolution.json``: lineages across windows as an alluvial chart.

Each window is a column; each lineage alive in it a block as tall as its channels, stacked in
one order for the whole chart (by first appearance) so a continuing lineage stays level.
Bands between columns carry the channels that stayed or moved. Readable at 50 communities ×
12 windows: only the ``top`` biggest lineages are drawn one by one (the rest are one grey
"other" block at the bottom), and flows smaller than ``min_flow`` of a window's channels are
summed into one figure per pair of windows (in the JSON, and in the chart's footnote)
instead of being drawn as slivers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vieweratlas.fileio import write_atomic
from vieweratlas.render.png import _clip

OTHER = 0  # lineage ids start at 1


def evolution_data(
    lineage: pa.Table,
    windows: list[str],
    labels: dict[int, str],
    *,
    top: int = 20,
    min_flow: float = 0.02,
) -> dict[str, Any]:
    """The chart's data: per window the block of every shown lineage, and the flows.

    ``lineage`` is ``window, platform, channel, lineage``; ``labels`` a name per lineage.
    """
    ids = lineage["lineage"].to_numpy()
    win = np.asarray(
        pc.index_in(lineage["window"], value_set=pa.array(windows)).to_numpy(zero_copy_only=False)
    )
    key = pc.binary_join_element_wise(lineage["platform"], lineage["channel"], "\x1f")
    chan = pc.dictionary_encode(key).combine_chunks().indices.to_numpy(zero_copy_only=False)
    all_ids = np.unique(ids)
    peak = {int(lin): 0 for lin in all_ids}
    first: dict[int, int] = {}
    for w in range(len(windows)):
        here = ids[win == w]
        u, c = np.unique(here, return_counts=True)
        for lin, n in zip(u.tolist(), c.tolist(), strict=True):
            peak[lin] = max(peak[lin], n)
            first.setdefault(lin, w)
    shown = sorted(peak, key=lambda x: (-peak[x], x))[:top]
    shown_set = set(shown)
    mapped = np.where(np.isin(ids, list(shown_set)), ids, OTHER)
    order = _stacking(shown, first, ids, win, chan)
    blocks = []
    for w in range(len(windows)):
        u, c = np.unique(mapped[win == w], return_counts=True)
        for lin, n in zip(u.tolist(), c.tolist(), strict=True):
            blocks.append({"window": w, "lineage": lin, "channels": n})
    flows = []
    for w in range(len(windows) - 1):
        a, b = win == w, win == w + 1
        common, ia, ib = np.intersect1d(chan[a], chan[b], return_indices=True)
        if not len(common):
            continue
        pairs = mapped[a][ia].astype(np.int64) * (1 << 32) + mapped[b][ib]
        u, c = np.unique(pairs, return_counts=True)
        limit = min_flow * int(a.sum())
        small = 0
        for p, n in zip(u.tolist(), c.tolist(), strict=True):
            if n < limit:
                small += n
            else:
                flows.append(
                    {"from": w, "source": p >> 32, "target": p & 0xFFFFFFFF, "channels": n}
                )
        if small:  # not drawn one by one: one record per pair of windows, without ends
            flows.append({"from": w, "source": None, "target": None, "channels": small})
    return {
        "windows": windows,
        "lineages": [
            {"lineage": lin, "label": labels.get(lin, ""), "peak_channels": peak[lin]}
            for lin in order
        ],
        "other_lineages": len(all_ids) - len(shown),
        "blocks": blocks,
        "flows": flows,
        "min_flow": min_flow,
    }


def _stacking(
    shown: list[int], first: dict[int, int], ids: np.ndarray, win: np.ndarray, chan: np.ndarray
) -> list[int]:
    """Top-to-bottom order of the shown lineages: those of the first window by id, then each
    new lineage right below the lineage most of its channels came from (a split's pieces
    stay side by side), or at the bottom when it came from nowhere (a birth)."""
    order: list[int] = []
    for lin in sorted(shown, key=lambda x: (first[x], x)):
        w = first[lin]
        source = None
        if w > 0:
            here = (win == w) & (ids == lin)
            _, ia, _ = np.intersect1d(chan[win == w - 1], chan[here], return_indices=True)
            before = ids[win == w - 1][ia]
            before = before[np.isin(before, order)]
            if len(before):
                u, c = np.unique(before, return_counts=True)
                source = int(u[np.argmax(c)])
        if source is None:
            order.append(lin)
        else:
            order.insert(order.index(source) + 1, lin)
    return order


def write_evolution(folder: Path, data: dict[str, Any]) -> list[str]:
    """``evolution.json`` and ``evolution.png`` into ``folder`` (each atomically)."""
    blob = (json.dumps(data, indent=1) + "\n").encode()
    write_atomic(folder / "evolution.json", lambda h: h.write(blob))
    write_atomic(folder / "evolution.png", lambda h: _draw(data, h))
    return ["evolution.json", "evolution.png"]


def _draw(data: dict[str, Any], handle: Any) -> None:
    windows: list[str] = data["windows"]
    order = [x["lineage"] for x in data["lineages"]] + [OTHER]
    rank = {lin: i for i, lin in enumerate(order)}
    n_w = max(len(windows), 1)
    totals = np.zeros(n_w)
    size: dict[tuple[int, int], int] = {}
    for b in data["blocks"]:
        size[(b["window"], b["lineage"])] = b["channels"]
        totals[b["window"]] += b["channels"]
    gap = 0.012
    scale = (1 - gap * len(order)) / max(float(totals.max(initial=1)), 1.0)
    ytop: dict[tuple[int, int], float] = {}
    for w in range(n_w):
        y = 1.0
        for lin in order:
            n = size.get((w, lin), 0)
            if n:
                ytop[(w, lin)] = y
                y -= n * scale + gap
    colors = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
        "#ff9da7", "#9c755f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#aec7e8", "#ffbb78",
    ]  # fmt: skip

    def color(lin: int) -> str:
        return "#b0b0b0" if lin == OTHER else colors[rank[lin] % len(colors)]

    width = max(8.0, 1.6 * n_w + 3)
    fig = Figure(figsize=(width, 8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.08, 0.78, 0.84))
    bar = 0.12
    out_cursor = dict(ytop)
    in_cursor = dict(ytop)
    t = np.linspace(0, 1, 40)
    smooth = t * t * (3 - 2 * t)
    drawn = [f for f in data["flows"] if f["source"] is not None]
    hidden = sum(f["channels"] for f in data["flows"] if f["source"] is None)
    # within a block: the channels that stay first, then moves in stacking order
    for f in sorted(
        drawn,
        key=lambda f: (f["from"], rank[f["source"]], f["source"] != f["target"], rank[f["target"]]),
    ):
        w, src, dst, n = f["from"], f["source"], f["target"], f["channels"]
        h = n * scale
        y0 = out_cursor[(w, src)]
        y1 = in_cursor[(w + 1, dst)]
        out_cursor[(w, src)] -= h
        in_cursor[(w + 1, dst)] -= h
        xs = w + bar / 2 + (1 - bar) * t
        upper = y0 + (y1 - y0) * smooth
        ax.fill_between(
            xs, upper - h, upper, color=color(src if src != OTHER else dst), alpha=0.35, lw=0
        )
    for (w, lin), y in ytop.items():
        h = size[(w, lin)] * scale
        ax.add_patch(_rect(w - bar / 2, y - h, bar, h, color(lin)))
    last: dict[int, int] = {}
    for w, lin in ytop:
        last[lin] = max(last.get(lin, -1), w)
    label_of = {x["lineage"]: x["label"] for x in data["lineages"]}
    handles = []
    for lin in order:
        if lin == OTHER and not data["other_lineages"]:
            continue
        name = "other" if lin == OTHER else f"L{lin} {label_of.get(lin, '')}".strip()
        if lin == OTHER:
            name += f" ({data['other_lineages']} small lineages)"
        handles.append(_rect(0, 0, 1, 1, color(lin), label=_clip(name, 38)))
    for lin, w in last.items():
        y, h = ytop[(w, lin)], size[(w, lin)] * scale
        if lin != OTHER and h > 0.02:
            ax.text(w + bar / 2 + 0.02, y - h / 2, f"L{lin}", va="center", fontsize=7)
    ax.set_xlim(-0.3, n_w - 0.5)
    ax.set_ylim(min([y - size[k] * scale for k, y in ytop.items()], default=0) - 0.02, 1.02)
    ax.set_xticks(range(n_w), [w[:16] for w in windows], rotation=30, ha="right", fontsize=8)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        f"Community lineages over {n_w} windows (height = channels; {hidden:,} channel moves "
        f"in flows under {100 * data['min_flow']:.0f}% of a window not drawn)",
        fontsize=10,
    )
    fig.legend(
        handles=handles, loc="upper right", fontsize=7, frameon=False, bbox_to_anchor=(0.995, 0.93)
    )
    fig.savefig(handle, format="png")


def _rect(x: float, y: float, w: float, h: float, color: str, label: str | None = None) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="white", lw=0.3, label=label)
