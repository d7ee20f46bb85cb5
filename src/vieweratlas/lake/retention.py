"""Retention: which lake files are past their keep-time, and deleting them.

Files are aged by the ``date=YYYY-MM-DD`` partition in their path (the UTC day of their
rows), never by object timestamps, so a re-uploaded or copied lake ages the same way. A
partition expires when its whole day is older than the keep-time: with 30 days, the files
of 1 October go once ``now`` passes 31 October 24:00 UTC.

Rules, most specific prefix first (see :class:`~vieweratlas.config.RetentionSettings`):

* ``raw/vod/…``  — ``retention.vod_raw`` (7 days): raw VOD chat replay;
* ``raw/…``      — ``retention.raw`` (30 days): raw snapshots (e.g. ``raw/irc/seen``);
* ``curated/…``  — ``retention.curated``: unset by default, so curated presence and channel
  metadata are kept (the analysis needs history; on AWS the bucket lifecycle moves them to
  Glacier after 90 days instead of deleting them). The creator map (``curated/creators``)
  is not a time series: its rows carry one fixed time so that re-imports de-duplicate and
  the first import wins, so it is never aged;
* ``state/kick/deliveries/…`` — the Kick webhook receiver's replay protection, one file per
  presence window named by the window's start: kept while a redelivery of its ids would
  still pass the age check (``kick.max_age``) plus one window, at least an hour
  (:func:`deliveries_keep`), aged by that name.

``track``'s window caches (``tracking/windows/<key>/``, each a small lake holding one run)
are recomputed when needed: those the latest tracking output (``tracking/latest/``) does
not use are deleted once made longer ago than ``retention.tracking`` (30 days), aged by
the creation time in their run id; a cache of a skipped window has no run and is kept.

Runs (``analysis/<run-id>/`` and their index entry ``runs/<run-id>.json``) are aged by
their creation time, as whole runs: ``retention.keep_runs`` keeps the newest N,
``retention.runs`` deletes those older than a duration; both unset by default, and the
newest run is always kept (it is what the dashboard and ``sql`` show). Files without a date
partition outside ``analysis/`` are never pruned. Planning is pure over a listing;
:func:`apply_prune` does the deletes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from vieweratlas.config import RetentionSettings
from vieweratlas.errors import LakeError
from vieweratlas.lake.schema import CREATORS, KICK_DELIVERIES, TRACKING_LATEST, TRACKING_WINDOWS
from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)

_DATE_SEGMENT = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_STAMP_NAME = re.compile(r"(\d{8}T\d{6}Z)\.json$")
TIMELESS = (f"{CREATORS.path}/",)  # tables whose rows are not observations in time


@dataclass(frozen=True)
class Rule:
    """Files under ``prefix`` are kept for ``keep`` (``None``: forever)."""

    name: str
    prefix: str
    keep: timedelta | None
    by_name: bool = False  # aged by the time stamp in the file name, not a date= partition


@dataclass(frozen=True)
class Expired:
    """One file that retention would delete."""

    path: str  # lake-relative
    rule: str
    day: date
    age_days: int


@dataclass(frozen=True)
class RunAge:
    """A run as retention sees it: its id, when it was made, its files (lake-relative)."""

    run_id: str
    created_at: datetime
    files: tuple[str, ...]


@dataclass(frozen=True)
class ExpiredRun:
    """One run that retention would delete, and why."""

    run_id: str
    created_at: datetime
    reason: str
    files: tuple[str, ...]  # the index entry first: once it is gone the run is not listed


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would do at ``now``: the expired files and what is kept, per rule."""

    now: datetime
    rules: tuple[Rule, ...]
    expired: tuple[Expired, ...]
    kept: dict[str, int]  # rule name → files kept
    undated: int  # files under a rule's prefix without a date= partition (kept)
    runs: tuple[ExpiredRun, ...] = ()
    runs_kept: int = 0
    caches: tuple[ExpiredRun, ...] = ()  # track's window caches; run_id is the cache key
    caches_kept: int = 0

    def by_rule(self) -> dict[str, list[Expired]]:
        out: dict[str, list[Expired]] = {r.name: [] for r in self.rules}
        for e in self.expired:
            out[e.rule].append(e)
        return out


def rules_from(settings: RetentionSettings) -> tuple[Rule, ...]:
    """The retention rules, most specific prefix first."""
    return (
        Rule("vod_raw", "raw/vod/", settings.vod_raw),
        Rule("raw", "raw/", settings.raw),
        Rule("curated", "curated/", settings.curated),
    )


def deliveries_keep(max_age: timedelta, interval: timedelta) -> timedelta:
    """How long the Kick receiver's delivery ids are needed: a delivery older than
    ``max_age`` is refused anyway, and a window's file is named by its start, so one window
    more (at least an hour, for a collector run with a longer ``--interval``)."""
    return max_age + max(interval, timedelta(hours=1))


def deliveries_rule(keep: timedelta) -> Rule:
    return Rule("kick_deliveries", f"{KICK_DELIVERIES}/", keep, by_name=True)


def name_time(path: str) -> datetime | None:
    """The ``YYYYmmddTHHMMSSZ`` time a state file is named by, or ``None``."""
    m = _STAMP_NAME.search(path)
    if m is None:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def partition_day(path: str) -> date | None:
    """The ``date=YYYY-MM-DD`` partition of a lake path, or ``None`` (absent or invalid)."""
    for segment in path.split("/"):
        m = _DATE_SEGMENT.match(segment)
        if m:
            try:
                return date.fromisoformat(m.group(1))
            except ValueError:
                log.warning("retention: ignoring invalid partition %r in %r", segment, path)
                return None
    return None


def match_rule(path: str, rules: Iterable[Rule]) -> Rule | None:
    for rule in rules:
        if path.startswith(rule.prefix):
            return rule
    return None


def plan(files: Iterable[str], rules: tuple[Rule, ...], *, now: datetime) -> PrunePlan:
    """Pure: which of ``files`` (lake-relative paths) are expired at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    expired: list[Expired] = []
    kept = {r.name: 0 for r in rules}
    undated = 0
    for path in files:
        rule = match_rule(path, rules)
        if rule is None:
            continue
        if path.startswith(TIMELESS):
            kept[rule.name] += 1
            continue
        if rule.by_name:
            stamp = name_time(path)
            if stamp is None:
                undated += 1
                kept[rule.name] += 1
            elif rule.keep is not None and stamp <= now - rule.keep:
                age = (now.date() - stamp.date()).days
                expired.append(Expired(path, rule.name, stamp.date(), age))
            else:
                kept[rule.name] += 1
            continue
        day = partition_day(path)
        if day is None:
            undated += 1
            kept[rule.name] += 1
            continue
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if rule.keep is not None and day_end <= now - rule.keep:
            expired.append(Expired(path, rule.name, day, (now.date() - day).days))
        else:
            kept[rule.name] += 1
    expired.sort(key=lambda e: (e.rule, e.day, e.path))
    return PrunePlan(now, rules, tuple(expired), kept, undated)


def plan_runs(
    runs: Iterable[RunAge],
    *,
    keep_last: int | None,
    older_than: timedelta | None,
    now: datetime,
) -> tuple[tuple[ExpiredRun, ...], int]:
    """Pure: which runs expire (beyond the newest ``keep_last``, or made before ``now -
    older_than``); the newest run never does. Returns (expired, kept count)."""
    ordered = sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)
    expired: list[ExpiredRun] = []
    for i, run in enumerate(ordered):
        reason = None
        if i == 0:
            pass
        elif keep_last is not None and i >= keep_last:
            reason = f"beyond the newest {keep_last}"
        elif older_than is not None and run.created_at <= now - older_than:
            reason = f"older than {older_than.days}d" if older_than.days else "too old"
        if reason is not None:
            expired.append(ExpiredRun(run.run_id, run.created_at, reason, run.files))
    return tuple(expired), len(ordered) - len(expired)


def run_ages(lake: Lake) -> list[RunAge]:
    """The lake's runs with their creation times and files (index entry first)."""
    from vieweratlas.runs import ANALYSIS_DIR, RUNS_DIR, list_runs  # runs sits above the lake

    out: list[RunAge] = []
    for info in list_runs(lake):
        try:
            created = datetime.fromisoformat(info.created_at)
        except ValueError:
            log.warning("retention: run %s has no valid creation time; kept", info.run_id)
            continue
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
        index = f"{RUNS_DIR}/{info.run_id}.json"
        files = [index] if lake.exists(index) else []
        files += lake.list_files(f"{ANALYSIS_DIR}/{info.run_id}")
        out.append(RunAge(info.run_id, created, tuple(files)))
    return out


def tracking_ages(lake: Lake) -> tuple[list[RunAge], set[str]]:
    """``track``'s window caches with the creation time of their run (files: the cache's run
    index first), and the keys the latest tracking output uses."""
    root = TRACKING_WINDOWS
    used: set[str] = set()
    summary = f"{TRACKING_LATEST}/summary.json"
    if lake.exists(summary):
        try:
            doc = json.loads(lake.read_bytes(summary))
            used = {str(w["key"]) for w in doc.get("windows", []) if w.get("key")}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LakeError(f"{summary}: not a tracking summary ({exc})") from None
    files: dict[str, list[str]] = {}
    for rel in lake.list_files(root):
        parts = rel[len(root) + 1 :].split("/")
        if len(parts) >= 2:
            files.setdefault(parts[0], []).append(rel)
    from vieweratlas.runs import run_created  # runs sits above the lake

    out: list[RunAge] = []
    for key, paths in sorted(files.items()):
        index = sorted(p for p in paths if "/runs/" in p)
        stamps = [run_created(posixpath.basename(p).removesuffix(".json")) for p in index]
        created = max((t for t in stamps if t is not None), default=None)
        if created is None:  # a skipped window (or a cache being written): kept
            continue
        rest = sorted(p for p in paths if "/runs/" not in p)
        out.append(RunAge(key, created, (*index, *rest)))
    return out, used


def plan_caches(
    caches: Iterable[RunAge], used: set[str], *, older_than: timedelta | None, now: datetime
) -> tuple[tuple[ExpiredRun, ...], int]:
    """Pure: the caches not in ``used`` made before ``now - older_than``; (expired, kept)."""
    expired: list[ExpiredRun] = []
    kept = 0
    for cache in caches:
        too_old = older_than is not None and cache.created_at <= now - older_than
        if too_old and cache.run_id not in used:
            reason = f"unused, older than {older_than.days}d" if older_than else "unused"
            expired.append(ExpiredRun(cache.run_id, cache.created_at, reason, cache.files))
        else:
            kept += 1
    return tuple(expired), kept


def plan_prune(
    lake: Lake,
    settings: RetentionSettings,
    *,
    now: datetime,
    deliveries: timedelta | None = None,
) -> PrunePlan:
    """List the lake's retained prefixes and plan what would be deleted at ``now``; with
    ``deliveries`` (see :func:`deliveries_keep`), Kick delivery ids older than that too."""
    rules = rules_from(settings)
    if deliveries is not None:
        rules = (deliveries_rule(deliveries), *rules)
    roots = sorted({r.prefix.split("/", 1)[0] for r in rules if r.keep is not None})
    files: list[str] = []
    for root in roots:
        files.extend(lake.list_files(root))
    result = plan(files, rules, now=now)
    if settings.keep_runs is not None or settings.runs is not None:
        runs, runs_kept = plan_runs(
            run_ages(lake), keep_last=settings.keep_runs, older_than=settings.runs, now=now
        )
        result = replace(result, runs=runs, runs_kept=runs_kept)
    if settings.tracking is not None:
        ages, used = tracking_ages(lake)
        caches, caches_kept = plan_caches(ages, used, older_than=settings.tracking, now=now)
        result = replace(result, caches=caches, caches_kept=caches_kept)
    log.info(
        "retention at %s: %d file(s) expired, %d kept; %d run(s), %d tracking cache(s) expired",
        now.isoformat(),
        len(result.expired),
        sum(result.kept.values()),
        len(result.runs),
        len(result.caches),
    )
    return result


def apply_prune(
    lake: Lake,
    prune: PrunePlan,
    *,
    progress: Callable[[Expired], None] | None = None,
) -> int:
    """Delete the expired files and runs of ``prune``; returns how many files were deleted.

    A file already gone (another pruner, a bucket lifecycle rule) counts as deleted. A run's
    index entry goes first, so a prune stopped half-way leaves an unlisted run, never a
    listed run with missing files.
    """
    deleted = 0
    for item in prune.expired:
        _delete(lake, item.path)
        deleted += 1
        if progress is not None:
            progress(item)
    for run in prune.runs:
        for path in run.files:
            _delete(lake, path)
            deleted += 1
        if lake.is_local:  # a folder left empty; object stores have no folders
            with contextlib.suppress(OSError):
                Path(lake.path("analysis", run.run_id)).rmdir()
    for cache in prune.caches:  # its run index first: a half-deleted cache is not reused
        for path in cache.files:
            _delete(lake, path)
            deleted += 1
        if lake.is_local:  # the folders left empty (never a file it did not list)
            for folder, _, _ in os.walk(lake.path(TRACKING_WINDOWS, cache.run_id), topdown=False):
                with contextlib.suppress(OSError):
                    Path(folder).rmdir()
    log.info(
        "retention: deleted %d file(s), %d run(s), %d tracking cache(s)",
        deleted,
        len(prune.runs),
        len(prune.caches),
    )
    return deleted


def _delete(lake: Lake, path: str) -> None:
    try:
        if lake.exists(path):
            lake.delete(path)
    except OSError as exc:
        raise LakeError(f"{path}: cannot delete ({exc})") from None
