"""Runs: every ``analyze`` leaves a run in the lake, listed in an index and opened by id.

A run's files live at ``analysis/<run-id>/``; its index entry ``runs/<run-id>.json`` (the
run's :class:`RunInfo`) is written last, so a run that failed half-way is never listed. A
run id says when its data window was and when it was made:
``<window start>_<window end>_<created>_<random>``, e.g.
``20261101T0000_20261107T2350_20261125T134500_3fa9c1`` (UTC, minutes / seconds). Runs made
before the index existed are found through their ``summary.json``.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
ANALYSIS_DIR = "analysis"
RUN_ID_RE = re.compile(r"\d{8}T\d{4}_\d{8}T\d{4}_\d{8}T\d{6}_[0-9a-f]{6}|\d{8}T\d{6}Z-[0-9a-f]{6}")


def new_run_id(window_start: datetime, window_end: datetime, created: datetime) -> str:
    """A fresh run id (see the module docstring); all times UTC."""
    return (
        f"{window_start:%Y%m%dT%H%M}_{window_end:%Y%m%dT%H%M}_{created:%Y%m%dT%H%M%S}_"
        f"{secrets.token_hex(3)}"
    )


def run_created(run_id: str) -> datetime | None:
    """When a run was made, read from its id (``None`` if it is not a run id)."""
    if not RUN_ID_RE.fullmatch(run_id):
        return None
    stamp = run_id.split("_")[2] if "_" in run_id else run_id[:15]
    return datetime.strptime(stamp.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def check_run_id(run_id: str) -> str:
    """``run_id`` if it has the shape of one (safe to put in a path), else ``LakeError``."""
    if not RUN_ID_RE.fullmatch(run_id):
        raise LakeError(f"run {run_id[:80]!r}: not a run id")
    return run_id


@dataclass(frozen=True)
class RunInfo:
    """One run as the index lists it."""

    run_id: str
    created_at: str  # ISO-8601, UTC
    window_start: str  # first snapshot analysed (ISO-8601)
    window_end: str  # last snapshot analysed (ISO-8601)
    counts: dict[str, int] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, default=str) + "\n").encode()

    @classmethod
    def from_summary(cls, summary: dict[str, Any], files: tuple[str, ...] = ()) -> RunInfo:
        window = summary.get("window", {})
        return cls(
            run_id=str(summary["run_id"]),
            created_at=str(summary.get("created_at", "")),
            window_start=str(window.get("since", "")),
            window_end=str(window.get("until", "")),
            counts={k: v for k, v in summary.get("counts", {}).items() if isinstance(v, int)},
            platforms=tuple(summary.get("platforms", ("twitch",))),
            parameters=dict(summary.get("parameters", {})),
            files=files,
        )


def list_runs(lake: Lake) -> list[RunInfo]:
    """Every complete run in the lake, newest first."""
    runs: dict[str, RunInfo] = {}
    for rel in lake.list_files(RUNS_DIR, suffix=".json"):
        try:
            data = json.loads(lake.read_bytes(rel))
            data["platforms"] = tuple(data.get("platforms", ()))
            data["files"] = tuple(data.get("files", ()))
            info = RunInfo(**data)
            runs[check_run_id(info.run_id)] = info
        except (ValueError, TypeError, KeyError, LakeError) as exc:
            log.warning("%s: not a run index entry (%s); skipped", rel, exc)
    for rel in lake.list_files(ANALYSIS_DIR, suffix="/summary.json"):
        run_id = rel.split("/")[1]
        if run_id in runs or not RUN_ID_RE.fullmatch(run_id):
            continue
        try:
            summary = json.loads(lake.read_bytes(rel))
        except ValueError:
            continue
        if "index" in summary:  # made by a version that indexes runs: a partial run
            continue
        runs[run_id] = RunInfo.from_summary({**summary, "run_id": run_id})
    return sorted(runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)


def open_run(lake: Lake, run_id: str | None = None) -> Run:
    """The run ``run_id`` (None: the newest). ``LakeError`` if there is no such run."""
    if run_id is not None:
        check_run_id(run_id)
        for info in list_runs(lake):
            if info.run_id == run_id:
                return Run(lake, info)
        raise LakeError(f"lake {lake.url}: no run {run_id!r} (see `vieweratlas runs`)")
    runs = list_runs(lake)
    if not runs:
        raise LakeError(f"lake {lake.url}: no runs yet (run `vieweratlas analyze`)")
    return Run(lake, runs[0])


class Run:
    """A run's files, read on demand from ``analysis/<run-id>/``."""

    def __init__(self, lake: Lake, info: RunInfo) -> None:
        self.lake = lake
        self.info = info
        self.run_id = info.run_id
        self.prefix = posixpath.join(ANALYSIS_DIR, info.run_id)

    def __repr__(self) -> str:
        return f"Run({self.run_id!r})"

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Names of the run's files."""
        n = len(self.prefix) + 1
        return tuple(rel[n:] for rel in self.lake.list_files(self.prefix))

    def has(self, name: str) -> bool:
        return name in self.files

    def read_bytes(self, name: str) -> bytes:
        if name not in self.files:
            raise LakeError(f"run {self.run_id}: no file {name[:80]!r}")
        return self.lake.read_bytes(posixpath.join(self.prefix, name))

    @cached_property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.read_bytes("summary.json"))
        return data

    def table(self, name: str) -> pa.Table:
        """The run's table ``name`` (``nodes``, ``edges``, ``communities``, …), from its
        Parquet file when there is one, else its CSV."""
        if self.has(f"{name}.parquet"):
            return pq.read_table(io.BytesIO(self.read_bytes(f"{name}.parquet")))
        if self.has(f"{name}.csv"):
            return pacsv.read_csv(io.BytesIO(self.read_bytes(f"{name}.csv")))
        raise LakeError(f"run {self.run_id}: no table {name[:80]!r}")
