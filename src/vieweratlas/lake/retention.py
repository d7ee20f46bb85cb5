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
  Glacier after 90 days instead of deleting them).

Everything else (``analysis/`` run outputs, files without a date partition) is never
pruned. Planning is pure over a listing; :func:`apply_prune` does the deletes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from vieweratlas.config import RetentionSettings
from vieweratlas.errors import LakeError
from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)

_DATE_SEGMENT = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Rule:
    """Files under ``prefix`` are kept for ``keep`` (``None``: forever)."""

    name: str
    prefix: str
    keep: timedelta | None


@dataclass(frozen=True)
class Expired:
    """One file that retention would delete."""

    path: str  # lake-relative
    rule: str
    day: date
    age_days: int


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would do at ``now``: the expired files and what is kept, per rule."""

    now: datetime
    rules: tuple[Rule, ...]
    expired: tuple[Expired, ...]
    kept: dict[str, int]  # rule name → files kept
    undated: int  # files under a rule's prefix without a date= partition (kept)

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


def plan_prune(lake: Lake, settings: RetentionSettings, *, now: datetime) -> PrunePlan:
    """List the lake's retained prefixes and plan what would be deleted at ``now``."""
    rules = rules_from(settings)
    roots = sorted({r.prefix.split("/", 1)[0] for r in rules if r.keep is not None})
    files: list[str] = []
    for root in roots:
        files.extend(lake.list_files(root))
    result = plan(files, rules, now=now)
    log.info(
        "retention at %s: %d file(s) expired, %d kept",
        now.isoformat(),
        len(result.expired),
        sum(result.kept.values()),
    )
    return result


def apply_prune(
    lake: Lake,
    prune: PrunePlan,
    *,
    progress: Callable[[Expired], None] | None = None,
) -> int:
    """Delete the expired files of ``prune``; returns how many were deleted.

    A file already gone (another pruner, a bucket lifecycle rule) counts as deleted.
    """
    deleted = 0
    for item in prune.expired:
        try:
            if lake.exists(item.path):
                lake.delete(item.path)
        except OSError as exc:
            raise LakeError(f"{item.path}: cannot delete ({exc})") from None
        deleted += 1
        if progress is not None:
            progress(item)
    log.info("retention: deleted %d file(s)", deleted)
    return deleted
