"""Tracking outputs for the dashboard: lineages across windows, their events, similar-channel
ranks over time, the alluvial.

``vieweratlas track`` writes ``lineage.csv`` (window, platform, channel, lineage),
``events.csv`` (window, event, lineage, detail) and ``similar_history.parquet`` (every
window's ``similar.parquet`` with ``window`` and ``rank``) and publishes them to
``tracking/latest/`` in the lake. :func:`find_tracking` is the one place that knows where they
live (that folder, else the last ``tracking/<name>/`` holding a ``lineage.csv``); everything
else takes a :class:`Tracking`, whose indexes (channel → its rows, lineage → its sizes and
events, the alluvial shapes) are built once when it is read, so a page costs a few dict
lookups. :func:`alluvial` is pure: tables in, shapes out (the template draws them as SVG, no
JavaScript).
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
import pyarrow.parquet as pq

from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TRACKING_DIR
from vieweratlas.pipeline.track import LATEST_DIR
from vieweratlas.web.rundata import DEFAULT_PLATFORM

log = logging.getLogger(__name__)

__all__ = ["TRACKING_DIR", "Alluvial", "Tracking", "alluvial", "find_tracking"]

HISTORY_FILE = "similar_history.parquet"
LINEAGE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
RANKED = 10  # a channel's similar channels shown over time: those in its top RANKED somewhere
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
_EMPTY_EVENTS = pa.table(
    {k: pa.array([], pa.string()) for k in ("window", "event", "lineage", "detail")}
)


def _ranges(table: pa.Table, keys: list[str]) -> dict[tuple[str, ...], tuple[int, int]]:
    """``(key values) → (lo, hi)`` row range of each group, for a table sorted by ``keys``
    (boundaries found column-wise; Python only touches one value per group)."""
    n = table.num_rows
    if n == 0:
        return {}
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for name in keys:
        col = table[name]
        if n > 1:
            diff = pc.not_equal(col.slice(1), col.slice(0, n - 1))
            change[1:] |= np.asarray(pc.fill_null(diff, True).to_numpy(zero_copy_only=False))
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], n]
    picked = table.select(keys).take(pa.array(starts))
    values = zip(*(picked[k].to_pylist() for k in keys), strict=True)
    return {
        tuple(v): (lo, hi) for v, lo, hi in zip(values, starts.tolist(), ends.tolist(), strict=True)
    }


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.take(pc.sort_indices(table, [(k, "ascending") for k in keys]))


def _keys(table: pa.Table) -> Any:
    return pc.binary_join_element_wise(table["platform"], table["channel"], "\x00")


class Tracking:
    """One tracking output (text columns; ranks and shared counts are numbers), indexed once.

    ``lineage``: window, platform, channel, lineage; ``events``: window, event, lineage,
    detail; ``history``: similar_history rows (or None when the output has none).
    Immutable after construction; every lookup is a dict hit and a small slice.
    """

    def __init__(
        self, source: str, lineage: pa.Table, events: pa.Table, history: pa.Table | None = None
    ) -> None:
        self.source = source
        self.lineage = _sorted(lineage, ["platform", "channel", "window"])
        self.events = events
        self.windows: list[str] = sorted(str(w) for w in pc.unique(lineage["window"]).to_pylist())
        self._by_channel = _ranges(self.lineage, ["platform", "channel"])
        self._members = _sorted(lineage, ["lineage", "window", "platform", "channel"])
        self._by_lineage_window = _ranges(self._members, ["lineage", "window"])
        self._sizes: dict[str, list[dict[str, Any]]] = {}
        for (lin, window), (lo, hi) in self._by_lineage_window.items():  # sorted by window
            self._sizes.setdefault(lin, []).append({"window": window, "channels": hi - lo})
        self._events: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(events.to_pylist(), key=lambda r: str(r["window"])):
            self._events.setdefault(str(row["lineage"]), []).append(row)
        self._recent_events = events.slice(max(events.num_rows - 30, 0)).to_pylist()
        last = (
            self.lineage.filter(pc.equal(self.lineage["window"], self.windows[-1]))
            if (self.windows)
            else self.lineage
        )
        self._latest_keys = _keys(last)
        self._latest_lineage = last["lineage"]
        self.history = (
            None if history is None else _sorted(history, ["platform", "channel", "window", "rank"])
        )
        self._history_index = (
            {} if self.history is None else _ranges(self.history, ["platform", "channel"])
        )
        self.alluvial = alluvial(self)  # the evolution page's shapes, drawn once

    def unchanged(self, source: str, lineage: pa.Table, events: pa.Table,
                  history: pa.Table | None) -> bool:  # fmt: skip
        """Whether re-read tables are this output's (then this object and its indexes stay)."""
        if source != self.source or (history is None) != (self.history is None):
            return False
        if lineage.num_rows != self.lineage.num_rows or not events.equals(self.events):
            return False
        if not _sorted(lineage, ["platform", "channel", "window"]).equals(self.lineage):
            return False
        return history is None or bool(
            _sorted(history, ["platform", "channel", "window", "rank"]).equals(self.history)
        )

    def channel_history(self, platform: str, channel: str) -> list[dict[str, str]]:
        """The channel's lineage in each window it was seen in, oldest first."""
        lo, hi = self._by_channel.get((platform, channel), (0, 0))
        rows: list[dict[str, str]] = (
            self.lineage.slice(lo, hi - lo).select(["window", "lineage"]).to_pylist()
        )
        return rows

    def lineage_events(self, lineage: str) -> list[dict[str, Any]]:
        return list(self._events.get(lineage, []))

    def lineage_sizes(self, lineage: str) -> list[dict[str, Any]]:
        """Channels in the lineage per window."""
        return [dict(s) for s in self._sizes.get(lineage, [])]

    def lineage_channels(self, lineage: str, window: str, limit: int) -> list[dict[str, str]]:
        """Up to ``limit`` channels of the lineage in ``window`` (platform, channel), by name."""
        lo, hi = self._by_lineage_window.get((lineage, window), (0, 0))
        part = self._members.slice(lo, min(hi - lo, limit)).select(["platform", "channel"])
        rows: list[dict[str, str]] = part.to_pylist()
        return rows

    def lineage_of(self, keys: list[tuple[str, str]]) -> str | None:
        """The lineage most of these channels belong to in the latest window."""
        if not keys or self._latest_keys is None or len(self._latest_keys) == 0:
            return None
        wanted = pa.array([f"{p}\x00{c}" for p, c in keys], pa.string())
        hits = self._latest_lineage.filter(pc.is_in(self._latest_keys, value_set=wanted))
        if len(hits) == 0:
            return None
        counts = pc.value_counts(hits).to_pylist()
        best = min(counts, key=lambda vc: (-vc["counts"], str(vc["values"])))
        return str(best["values"])

    def recent_events(self) -> list[dict[str, Any]]:
        return list(self._recent_events)

    def similar_ranks(self, platform: str, channel: str, limit: int = 12) -> dict[str, Any] | None:
        """The channel's similar channels ranked over the tracked windows: every channel that
        is in its top ``RANKED`` in some window (best rank in the latest window first, then
        best rank anywhere), up to ``limit``, with its rank and shared viewers in each window
        (None: not in that window's list). None when the output has no similar history."""
        if self.history is None:
            return None
        lo, hi = self._history_index.get((platform, channel), (0, 0))
        rows = self.history.slice(lo, hi - lo)
        windows = sorted({str(w) for w in rows["window"].to_pylist()})
        cols = rows.select(["window", "other_platform", "other", "rank", "shared"]).to_pydict()
        ranks: dict[tuple[str, str], dict[str, int]] = {}
        shared: dict[tuple[str, str], dict[str, int]] = {}
        for w, p, o, r, s in zip(*cols.values(), strict=True):
            ranks.setdefault((p, o), {})[w] = int(r)
            shared.setdefault((p, o), {})[w] = int(s)
        last = windows[-1] if windows else ""
        shown = [k for k, by in ranks.items() if min(by.values()) <= RANKED]
        shown.sort(key=lambda k: (ranks[k].get(last, 1 << 30), min(ranks[k].values()), k))
        return {
            "windows": windows,
            "channels": [
                {
                    "platform": p,
                    "channel": o,
                    "ranks": [ranks[(p, o)].get(w) for w in windows],
                    "shared": [shared[(p, o)].get(w) for w in windows],
                }
                for p, o in shown[:limit]
            ],
        }


def _read_csv(lake: Lake, rel: str, columns: tuple[str, ...]) -> pa.Table:
    table = pacsv.read_csv(io.BytesIO(lake.read_bytes(rel)), convert_options=_TEXT)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{rel}: missing columns {missing}")
    return table.select(list(columns))


def _read_history(lake: Lake, rel: str) -> pa.Table | None:
    """``similar_history.parquet`` as window, platform, channel, other_platform, other (text),
    rank, shared; None when the output has none."""
    if not lake.exists(rel):
        return None
    table = pq.read_table(io.BytesIO(lake.read_bytes(rel)))
    needed = ("window", "platform", "channel", "other", "rank", "shared")
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise ValueError(f"{rel}: missing columns {missing}")
    table = table.filter(pc.invert(pc.or_(pc.is_null(table["rank"]), pc.is_null(table["other"]))))
    text = {name: table[name].cast(pa.string()) for name in ("window", "channel", "other")}
    platform = pc.fill_null(table["platform"].cast(pa.string()), DEFAULT_PLATFORM)
    other_platform = (
        pc.fill_null(table["other_platform"].cast(pa.string()), platform)
        if "other_platform" in table.column_names
        else platform
    )
    return pa.table(
        {
            "window": text["window"],
            "platform": platform,
            "channel": text["channel"],
            "other_platform": other_platform,
            "other": text["other"],
            "rank": table["rank"].cast(pa.int64()),
            "shared": pc.fill_null(table["shared"].cast(pa.int64()), 0),
        }
    )


def find_tracking(lake: Lake, previous: Tracking | None = None) -> Tracking | None:
    """The newest tracking output in the lake, or None when there is none (or it is broken:
    logged, and the dashboard shows its empty state). ``previous`` is returned as is when
    the output has not changed (its indexes are kept)."""
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
            else _EMPTY_EVENTS
        )
        history = _read_history(lake, f"{folder}/{HISTORY_FILE}")
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        log.warning("tracking output %s unreadable: %s", folder, exc)
        return None
    lineage = lineage.filter(pc.invert(pc.is_null(lineage["lineage"])))
    lineage = lineage.set_column(1, "platform", pc.fill_null(lineage["platform"], DEFAULT_PLATFORM))
    if previous is not None and previous.unchanged(folder, lineage, events, history):
        return previous
    return Tracking(folder, lineage, events, history)


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
