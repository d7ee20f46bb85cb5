"""Tracking outputs for the dashboard: lineages across windows, their events, the alluvial.

``vieweratlas track`` writes ``lineage.csv`` (window, platform, channel, lineage) and
``events.csv`` (window, event, lineage, detail) and publishes them to ``tracking/latest/``
in the lake. :func:`find_tracking` is the one place that knows where they live (that
folder, else the last ``tracking/<name>/`` holding a ``lineage.csv``); everything else takes
a :class:`Tracking`. :func:`alluvial` is pure: tables in, shapes out (the template
draws them as SVG, no JavaScript).
"""

from __future__ import annotations

import io
import itertools
import logging
import posixpath
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from vieweratlas.lake import Lake
from vieweratlas.pipeline.track import LATEST_DIR

log = logging.getLogger(__name__)

__all__ = ["TRACKING_DIR", "Alluvial", "Tracking", "alluvial", "find_tracking"]

TRACKING_DIR = posixpath.dirname(LATEST_DIR)  # "tracking"
LINEAGE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_TEXT = pacsv.ConvertOptions(
    column_types={
        "window": pa.string(),
        "lineage": pa.string(),
        "platform": pa.string(),
        "channel": pa.string(),
        "event": pa.string(),
        "detail": pa.string(),
    }
)


@dataclass(frozen=True)
class Tracking:
    """One tracking output: where it came from and its two tables (all text columns)."""

    source: str  # lake-relative folder
    lineage: pa.Table  # window, platform, channel, lineage
    events: pa.Table  # window, event, lineage, detail

    @property
    def windows(self) -> list[str]:
        return sorted(str(w) for w in pc.unique(self.lineage["window"]).to_pylist())

    def channel_history(self, platform: str, channel: str) -> list[dict[str, str]]:
        """The channel's lineage in each window it was seen in, oldest first."""
        mask = pc.and_(
            pc.equal(self.lineage["platform"], platform), pc.equal(self.lineage["channel"], channel)
        )
        rows = self.lineage.filter(mask).select(["window", "lineage"]).to_pylist()
        return sorted(rows, key=lambda r: str(r["window"]))

    def lineage_events(self, lineage: str) -> list[dict[str, Any]]:
        rows = self.events.filter(pc.equal(self.events["lineage"], lineage)).to_pylist()
        return sorted(rows, key=lambda r: str(r["window"]))

    def lineage_sizes(self, lineage: str) -> list[dict[str, Any]]:
        """Channels in the lineage per window."""
        part = self.lineage.filter(pc.equal(self.lineage["lineage"], lineage))
        counts = part.group_by("window").aggregate([("channel", "count")])
        rows = [
            {"window": w, "channels": c}
            for w, c in zip(
                counts["window"].to_pylist(), counts["channel_count"].to_pylist(), strict=True
            )
        ]
        return sorted(rows, key=lambda r: str(r["window"]))

    def lineage_channels(self, lineage: str, window: str, limit: int) -> list[dict[str, str]]:
        """Up to ``limit`` channels of the lineage in ``window`` (platform, channel)."""
        mask = pc.and_(
            pc.equal(self.lineage["lineage"], lineage), pc.equal(self.lineage["window"], window)
        )
        part = self.lineage.filter(mask).select(["platform", "channel"]).slice(0, limit)
        return sorted(part.to_pylist(), key=lambda r: (str(r["platform"]), str(r["channel"])))

    def lineage_of(self, keys: list[tuple[str, str]]) -> str | None:
        """The lineage most of these channels belong to in the latest window."""
        if not keys or self.lineage.num_rows == 0:
            return None
        last = self.windows[-1]
        part = self.lineage.filter(pc.equal(self.lineage["window"], last))
        wanted = pa.array([f"{p}\x00{c}" for p, c in keys])
        have = pc.binary_join_element_wise(part["platform"], part["channel"], "\x00")
        hits = part.filter(pc.is_in(have, value_set=wanted))
        if hits.num_rows == 0:
            return None
        counts = hits.group_by("lineage").aggregate([("channel", "count")])
        best = int(np.argmax(counts["channel_count"].to_numpy()))
        return str(counts["lineage"][best].as_py())


def _read_csv(lake: Lake, rel: str, columns: tuple[str, ...]) -> pa.Table:
    table = pacsv.read_csv(io.BytesIO(lake.read_bytes(rel)), convert_options=_TEXT)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{rel}: missing columns {missing}")
    return table.select(list(columns))


def find_tracking(lake: Lake) -> Tracking | None:
    """The newest tracking output in the lake, or None when there is none (or it is broken:
    logged, and the dashboard shows its empty state)."""
    found = sorted(
        posixpath.dirname(rel)
        for rel in lake.list_files(TRACKING_DIR, suffix="lineage.csv")
        if rel.endswith("/lineage.csv")
    )
    if not found:
        return None
    folder = LATEST_DIR if LATEST_DIR in found else found[-1]
    try:
        lineage = _read_csv(
            lake, f"{folder}/lineage.csv", ("window", "platform", "channel", "lineage")
        )
        events_rel = f"{folder}/events.csv"
        events = (
            _read_csv(lake, events_rel, ("window", "event", "lineage", "detail"))
            if lake.exists(events_rel)
            else pa.table(
                {k: pa.array([], pa.string()) for k in ("window", "event", "lineage", "detail")}
            )
        )
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        log.warning("tracking output %s unreadable: %s", folder, exc)
        return None
    lineage = lineage.filter(pc.invert(pc.is_null(lineage["lineage"])))
    return Tracking(folder, lineage, events)


@dataclass(frozen=True)
class Alluvial:
    """Shapes of the alluvial view, in SVG user units."""

    width: int
    height: int
    columns: list[dict[str, Any]]  # window label and x
    blocks: list[dict[str, Any]]  # lineage, window, x, y, h, channels, colour
    flows: list[dict[str, Any]]  # lineage_from, lineage_to, channels, path, colour


PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def colour(lineage: str) -> str:
    """A stable colour per lineage id (same id, same colour on every page)."""
    h = 0
    for ch in lineage:
        h = (h * 31 + ord(ch)) % 1_000_003
    return PALETTE[h % len(PALETTE)]


def alluvial(
    tracking: Tracking, *, max_lineages: int = 12, width: int = 960, height: int = 420
) -> Alluvial:
    """Stacked lineages per window (the ``max_lineages`` biggest overall; the rest are left
    out) and the channels flowing between consecutive windows."""
    table = tracking.lineage
    windows = tracking.windows
    if not windows:
        return Alluvial(width, height, [], [], [])
    totals = table.group_by("lineage").aggregate([("channel", "count")])
    order = np.argsort(-totals["channel_count"].to_numpy(), kind="stable")[:max_lineages]
    keep = [str(totals["lineage"][int(i)].as_py()) for i in order]
    rank = {lin: k for k, lin in enumerate(keep)}
    table = table.filter(pc.is_in(table["lineage"], value_set=pa.array(keep, pa.string())))
    sizes = table.group_by(["window", "lineage"]).aggregate([("channel", "count")]).to_pylist()
    per_window: dict[str, list[tuple[str, int]]] = {w: [] for w in windows}
    for row in sizes:
        per_window[str(row["window"])].append((str(row["lineage"]), int(row["channel_count"])))
    pad, block_w, gap = 24, 14, 8
    peak = max(sum(c for _, c in v) for v in per_window.values()) or 1
    stacked = max(len(v) for v in per_window.values())
    scale = (height - 2 * pad - gap * stacked) / peak
    step = (width - 2 * pad - block_w) / max(len(windows) - 1, 1)
    columns, blocks = [], []
    place: dict[tuple[str, str], list[float]] = {}  # (window, lineage) → [x, y, out, in]
    for k, window in enumerate(windows):
        x = pad + k * step
        anchor = "start" if k == 0 else "end" if k == len(windows) - 1 else "middle"
        label_x = x + block_w if anchor == "end" else x + block_w / 2 if anchor == "middle" else x
        columns.append({"window": window, "x": round(label_x, 1), "anchor": anchor})
        y = float(pad)
        for lin, count in sorted(per_window[window], key=lambda lc: rank[lc[0]]):
            h = max(count * scale, 1.0)
            place[(window, lin)] = [x, y, y, y]
            blocks.append(
                {"lineage": lin, "window": window, "x": round(x, 1), "y": round(y, 1),
                 "h": round(h, 1), "channels": count, "colour": colour(lin)}
            )  # fmt: skip
            y += h + gap
    flows = []
    for a, b in itertools.pairwise(windows):
        left = table.filter(pc.equal(table["window"], a)).select(["platform", "channel", "lineage"])
        right = table.filter(pc.equal(table["window"], b)).select(
            ["platform", "channel", "lineage"]
        )
        joined = left.join(right, ["platform", "channel"], join_type="inner", right_suffix="_next")
        pairs = joined.group_by(["lineage", "lineage_next"]).aggregate([("channel", "count")])
        for row in sorted(
            pairs.to_pylist(), key=lambda r: (rank[r["lineage"]], rank[r["lineage_next"]])
        ):
            src, dst = place[(a, row["lineage"])], place[(b, row["lineage_next"])]
            h = max(row["channel_count"] * scale, 0.5)
            x0, y0 = src[0] + block_w, src[2]
            x1, y1 = dst[0], dst[3]
            src[2] += h
            dst[3] += h
            mid = (x0 + x1) / 2
            path = (
                f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
                f"L{x1:.1f},{y1 + h:.1f} C{mid:.1f},{y1 + h:.1f} {mid:.1f},{y0 + h:.1f} "
                f"{x0:.1f},{y0 + h:.1f} Z"
            )
            flows.append(
                {"lineage_from": row["lineage"], "lineage_to": row["lineage_next"],
                 "channels": int(row["channel_count"]), "path": path,
                 "colour": colour(str(row["lineage"]))}
            )  # fmt: skip
    return Alluvial(width, height, columns, blocks, flows)
