"""``vieweratlas track``: analyse window after window, and follow the communities.

Each window ``[start, start + every)`` (aligned to the Unix epoch, so daily windows start at
midnight UTC) goes through the three steps of :mod:`vieweratlas.pipeline` (pictures only on
request) and is published into the lake's ``tracking/windows/<key>/`` — a small lake of its
own with one run — and into ``--out/windows/<window>/``. The key is the window, a hash of
the analysis settings and a fingerprint of the data (the names of the presence files of the
window's days and of the channel files up to its end; data files are named by the SHA-256 of
their bytes, so new rows mean new names). A later ``track`` over the same or a longer range reuses
every window whose key it finds: a daily schedule analyses one new window a day.

The windows' communities are then matched into lineages
(:mod:`vieweratlas.analysis.tracking`), and the tracking outputs written into ``--out`` and
``tracking/latest/`` in the lake (for the dashboard).
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vieweratlas import __version__
from vieweratlas.analysis.tracking import MatchRules, Tracking, WindowCommunities, track
from vieweratlas.config import Settings
from vieweratlas.csvsafe import safe_csv_bytes
from vieweratlas.errors import AnalysisError
from vieweratlas.fileio import atomic_file
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TRACKING_LATEST, TRACKING_WINDOWS
from vieweratlas.runs import Run, list_runs
from vieweratlas.timings import Timings

log = logging.getLogger(__name__)

CACHE_VERSION = 1
LATEST_DIR = TRACKING_LATEST
OUTPUT_FILES = (
    "lineage.csv",
    "events.csv",
    "migrations.csv",
    "lineages.csv",
    "similar_history.parquet",
    "evolution.json",
    "evolution.png",
    "summary.json",
)
_PART_RE = re.compile(r"platform=([^/]+)/date=(\d{4}-\d{2}-\d{2})/")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """ISO start: a date for whole-day windows, else date and time (minutes)."""
        whole_days = self.start.time() == datetime.min.time() and (
            self.end - self.start
        ) % timedelta(days=1) == timedelta(0)
        return (
            self.start.date().isoformat() if whole_days else self.start.strftime("%Y-%m-%dT%H:%M")
        )

    @property
    def folder(self) -> str:
        return self.label.replace(":", "")


@dataclass(frozen=True)
class WindowRun:
    """One window of a ``track``: its key, where its run came from, or why it was skipped."""

    window: Window
    key: str
    run_id: str | None
    reused: bool
    skipped: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackResult:
    out_dir: Path
    windows: list[WindowRun]
    tracking: Tracking
    summary: dict[str, Any]


def plan_windows(start: datetime, end: datetime, every: timedelta) -> list[Window]:
    """Windows of length ``every`` aligned to the epoch, covering ``[start, end)``."""
    if every <= timedelta(0):
        raise AnalysisError(f"track: --every must be positive, got {every}")
    first = _EPOCH + ((start - _EPOCH) // every) * every
    out = []
    t = first
    while t < end:
        out.append(Window(t, t + every))
        t += every
    return out


def _partitions(lake: Lake, table: str, platforms: tuple[str, ...]) -> list[tuple[str, date]]:
    """(file, day) of every visible data file of ``table`` (on ``platforms``, all when
    empty). File names carry the SHA-256 of their bytes: new rows, new names."""
    out = []
    for f in lake.data_files(table):
        m = _PART_RE.search(f.partition + "/")
        if m and (not platforms or m.group(1) in platforms):
            out.append((f.rel, date.fromisoformat(m.group(2))))
    return out


def data_range(lake: Lake, settings: Settings, every: timedelta, now: datetime) -> list[Window]:
    """The windows to track: from ``analysis.since`` (or the first day with presence) to
    ``analysis.until`` (or the last day with presence); only windows that ended by ``now``
    and by ``analysis.until`` unless ``track.partial``."""
    cfg = settings.analysis
    days = sorted({d for _, d in _partitions(lake, "presence", cfg.platforms)})
    if not days:
        raise AnalysisError(f"lake {lake.url}: no presence to track")
    start = cfg.since or datetime.combine(days[0], datetime.min.time(), UTC)
    end = cfg.until or datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(days=1)
    windows = plan_windows(start, end, every)
    if not settings.track.partial:  # whole windows only: ended before now (and --until)
        limit = min(now, cfg.until) if cfg.until else now
        windows = [w for w in windows if w.end <= limit]
    if not windows:
        raise AnalysisError(
            f"track: no whole window of {every} in the data before {now:%Y-%m-%d %H:%M} UTC "
            "(set track.partial to include the current one)"
        )
    return windows


def window_key(window: Window, settings: Settings, files: list[str]) -> str:
    """``<start>_<end>_<hash>``: the hash covers the analysis settings and the data files."""
    params = settings.analysis.model_dump(mode="json", exclude={"since", "until"})
    blob = json.dumps(
        {
            "cache": CACHE_VERSION,
            "version": __version__,
            "analysis": params,
            "files": sorted(files),
        },
        sort_keys=True,
    ).encode()
    digest = hashlib.sha256(blob).hexdigest()[:16]
    return f"{window.start:%Y%m%dT%H%M}_{window.end:%Y%m%dT%H%M}_{digest}"


def _window_files(
    window: Window, presence: list[tuple[str, date]], channels: list[tuple[str, date]]
) -> list[str]:
    first, last = window.start.date(), (window.end - timedelta(microseconds=1)).date()
    return [f for f, d in presence if first <= d <= last] + [f for f, d in channels if d <= last]


def _sublake(lake: Lake, key: str) -> Lake:
    rel = posixpath.join(TRACKING_WINDOWS, key)
    return Lake(lake.fs, lake.path(rel), url=f"{lake.url.rstrip('/')}/{rel}")


def _window_settings(settings: Settings, window: Window) -> Settings:
    analysis = settings.analysis.model_copy(update={"since": window.start, "until": window.end})
    return settings.model_copy(update={"analysis": analysis})


def analyse_window(
    lake: Lake,
    settings: Settings,
    window: Window,
    key: str,
    out_dir: Path,
    *,
    render: bool,
    reuse: bool,
    now: datetime,
) -> WindowRun:
    """One window: reuse its run from the lake when the key is there, else analyse it."""
    from vieweratlas.pipeline import (
        build_graph,
        channel_metadata,
        find_communities,
        lay_out,
        publish,
    )

    cache = _sublake(lake, key)
    if reuse:
        runs = list_runs(cache)
        if runs and (not render or "atlas.png" in runs[0].files):
            run = Run(cache, runs[0])
            for name in run.files:
                with atomic_file(out_dir / name) as handle:
                    handle.write(run.read_bytes(name))
            return WindowRun(window, key, run.run_id, True, counts=dict(run.info.counts))
        if not runs and cache.exists("skipped.json"):
            reason = json.loads(cache.read_bytes("skipped.json"))["reason"]
            return WindowRun(window, key, None, True, skipped=reason)
    wsettings = _window_settings(settings, window)
    try:
        graph = build_graph(lake, wsettings, timings=Timings())
        meta = channel_metadata(lake, graph, until=window.end)
        tables = find_communities(graph, wsettings.analysis, meta)
    except AnalysisError as exc:
        log.warning("window %s skipped: %s", window.label, exc)
        cache.write_bytes(
            "skipped.json", json.dumps({"window": window.label, "reason": str(exc)}).encode()
        )
        return WindowRun(window, key, None, False, skipped=str(exc))
    if render:
        tables = lay_out(tables, wsettings.analysis.seed)
    result = publish(cache, wsettings, graph, tables, out_dir, render=render, now=now)
    counts = {k: v for k, v in result.summary["counts"].items() if isinstance(v, int)}
    return WindowRun(window, key, result.run_id, False, counts=counts)


def track_communities(
    lake: Lake,
    settings: Settings,
    out_dir: Path,
    *,
    every: timedelta | None = None,
    render: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrackResult:
    """Analyse every window of the range (reusing what the lake has) and track lineages."""
    now = now or datetime.now(UTC)
    every = every or settings.track.every
    timings = Timings(progress)
    out_dir = Path(out_dir)
    with timings.stage("plan"):
        windows = data_range(lake, settings, every, now)
        presence = _partitions(lake, "presence", settings.analysis.platforms)
        channels = _partitions(lake, "channels", settings.analysis.platforms)
    runs: list[WindowRun] = []
    for i, window in enumerate(windows, 1):
        with timings.stage(f"window {window.label} ({i}/{len(windows)})"):
            key = window_key(window, settings, _window_files(window, presence, channels))
            runs.append(
                analyse_window(
                    lake, settings, window, key, out_dir / "windows" / window.folder,
                    render=render, reuse=settings.track.reuse, now=now,
                )
            )  # fmt: skip
    done = [r for r in runs if r.run_id is not None]
    if not done:
        raise AnalysisError(f"track: no window could be analysed ({runs[0].skipped})")
    with timings.stage("match"):
        nodes = {
            r.window.label: pq.read_table(out_dir / "windows" / r.window.folder / "nodes.parquet")
            for r in done
        }
        wc = [
            WindowCommunities(label, t.select(["platform", "channel", "community"]))
            for label, t in nodes.items()
        ]
        t = settings.track
        result = track(wc, MatchRules(t.threshold, t.containment, t.min_shared, t.change))
    with timings.stage("outputs"):
        labels = lineage_labels(result.lineage, nodes)
        history = similar_history(out_dir, done)
        summary = _summary(settings, every, runs, result, now)
        summary["timings"] = timings.total()  # up to here; the final figures are returned
        files = _write_outputs(out_dir, settings, result, labels, history, summary, list(nodes))
    with timings.stage("copy_to_lake"):
        for name in files:
            lake.write_bytes(f"{LATEST_DIR}/{name}", (out_dir / name).read_bytes())
    summary["timings"] = timings.total()
    return TrackResult(out_dir, runs, result, summary)


def lineage_labels(lineage: pa.Table, nodes: dict[str, pa.Table]) -> pa.Table:
    """``lineage, label, first_window, last_window, peak_channels``: each lineage named by
    its community's label in the last window it was seen."""
    parts = []
    for label, t in nodes.items():
        parts.append(
            pa.table(
                {
                    "window": pa.repeat(pa.scalar(label), t.num_rows),
                    "platform": t["platform"].cast(pa.string()),
                    "channel": t["channel"].cast(pa.string()),
                    "label": t["label"].cast(pa.string()),
                }
            )
        )
    named = lineage.join(
        pa.concat_tables(parts), keys=["window", "platform", "channel"], join_type="left outer"
    )
    sizes = named.group_by(["lineage", "window"]).aggregate([("channel", "count")])
    stats = sizes.group_by("lineage").aggregate(
        [("window", "min"), ("window", "max"), ("channel_count", "max")]
    )
    last = named.join(stats.select(["lineage", "window_max"]), keys="lineage")
    last = last.filter(pc.equal(last["window"], last["window_max"]))
    common = (
        last.group_by(["lineage", "label"])
        .aggregate([("channel", "count")])
        .sort_by(
            [("lineage", "ascending"), ("channel_count", "descending"), ("label", "ascending")]
        )
    )
    first_rows = np.unique(common["lineage"].to_numpy(), return_index=True)[1]
    best = common.take(pa.array(first_rows, pa.int64())).select(["lineage", "label"])
    out = stats.join(best, keys="lineage", join_type="left outer").sort_by("lineage")
    return pa.table(
        {
            "lineage": out["lineage"],
            "label": out["label"],
            "first_window": out["window_min"],
            "last_window": out["window_max"],
            "peak_channels": out["channel_count_max"],
        }
    )


def similar_history(out_dir: Path, done: list[WindowRun]) -> pa.Table:
    """Every window's similar channels with their rank: a channel's ranking over time."""
    parts = []
    for r in done:
        path = out_dir / "windows" / r.window.folder / "similar.parquet"
        if not path.exists():
            continue
        t = pq.read_table(path)
        keys = pc.binary_join_element_wise(t["platform"], t["channel"], "\x1f").to_numpy(
            zero_copy_only=False
        )
        # rows are grouped per channel, best first: rank = position within the group
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        rank = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)])) + 1
        parts.append(
            t.add_column(0, "window", pa.repeat(pa.scalar(r.window.label), t.num_rows)).add_column(
                5, "rank", pa.array(rank, pa.int32())
            )
        )
    if not parts:
        return pa.table({"window": pa.array([], pa.string())})
    return pa.concat_tables(parts)


def _summary(
    settings: Settings, every: timedelta, runs: list[WindowRun], result: Tracking, now: datetime
) -> dict[str, Any]:
    events = result.events["event"].to_pylist()
    return {
        "created_at": now.isoformat(),
        "version": __version__,
        "every": every.total_seconds(),
        "windows": [
            {
                "window": r.window.label,
                "start": r.window.start.isoformat(),
                "end": r.window.end.isoformat(),
                "key": r.key,
                "run_id": r.run_id,
                "reused": r.reused,
                "skipped": r.skipped,
                "channels": r.counts.get("channels"),
                "communities": r.counts.get("communities"),
            }
            for r in runs
        ],
        "lineages": len(set(result.lineage["lineage"].to_pylist())),
        "events": {
            e: events.count(e) for e in ("birth", "death", "merge", "split", "grow", "shrink")
        },
        "migrations": result.migrations.num_rows,
        "parameters": {
            "track": settings.track.model_dump(mode="json"),
            "analysis": settings.analysis.model_dump(mode="json"),
            "preset": settings.preset,
        },
    }


def _write_outputs(
    out_dir: Path,
    settings: Settings,
    result: Tracking,
    labels: pa.Table,
    history: pa.Table,
    summary: dict[str, Any],
    windows: list[str],
) -> list[str]:
    """The tracking files, staged in a hidden folder and moved into ``out_dir`` together."""
    from vieweratlas.render.evolution import evolution_data, write_evolution

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        for name, table in (
            ("lineage.csv", result.lineage),
            ("events.csv", result.events),
            ("migrations.csv", result.migrations),
            ("lineages.csv", labels),
        ):
            (staging / name).write_bytes(safe_csv_bytes(table))
        pq.write_table(history, staging / "similar_history.parquet", compression="zstd")
        names = dict(zip(labels["lineage"].to_pylist(), labels["label"].to_pylist(), strict=True))
        data = evolution_data(
            result.lineage, windows, {k: v or "" for k, v in names.items()},
            top=settings.track.chart_lineages, min_flow=settings.track.chart_min_flow,
        )  # fmt: skip
        write_evolution(staging, data)
        (staging / "summary.json").write_bytes(
            (json.dumps(summary, indent=2, default=str) + "\n").encode()
        )
        for name in OUTPUT_FILES:
            (staging / name).replace(out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(OUTPUT_FILES)
