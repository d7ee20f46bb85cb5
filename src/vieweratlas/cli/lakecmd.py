"""``vieweratlas lake check`` (what the lake holds), ``lake prune`` (retention, dry run
unless ``--apply``), ``lake athena`` (DDL) and ``lake compact`` (merging small files)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import Progress

from vieweratlas.cli import checks
from vieweratlas.cli.app import lake_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, err_console, resolve
from vieweratlas.cli.output import line, note, table
from vieweratlas.config import parse_timestamp
from vieweratlas.errors import ConfigError, LakeError
from vieweratlas.lake import TABLES, Lake
from vieweratlas.lake.athena import create_tables
from vieweratlas.lake.compact import compact as compact_lake
from vieweratlas.lake.health import check_lake, scan_lake
from vieweratlas.lake.inventory import describe
from vieweratlas.lake.retention import (
    ExpiredRun,
    PrunePlan,
    apply_prune,
    deliveries_keep,
    plan_prune,
)


@lake_app.command()
def prune(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Really delete (default: dry run, only show).")
    ] = False,
    raw: Annotated[
        str | None, typer.Option("--raw", help="Keep raw snapshots this long, e.g. 30d.")
    ] = None,
    vod_raw: Annotated[
        str | None, typer.Option("--vod-raw", help="Keep raw VOD chat this long, e.g. 7d.")
    ] = None,
    curated: Annotated[
        str | None,
        typer.Option("--curated", help="Also expire curated data older than this (default: kept)."),
    ] = None,
    keep_runs: Annotated[
        int | None,
        typer.Option("--keep-runs", min=1, help="Keep only the newest N runs (analysis/)."),
    ] = None,
    runs_older_than: Annotated[
        str | None,
        typer.Option(
            "--runs-older-than",
            help="Delete runs made longer ago than this, e.g. 30d (the newest run is kept).",
        ),
    ] = None,
    tracking_older_than: Annotated[
        str | None,
        typer.Option(
            "--tracking-older-than",
            help="Delete track's window caches the latest tracking output does not use, "
            "made longer ago than this (default 30d).",
        ),
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this time (ISO-8601; tests).")
    ] = None,
    show: Annotated[int, typer.Option("--show", min=0, help="Files listed per rule.")] = 20,
) -> None:
    """Delete data past its retention (raw 30d, VOD raw 7d, Kick delivery ids past the replay
    window, unused tracking caches after 30d; runs when asked); dry run unless --apply."""
    settings = resolve(
        lake,
        config,
        preset,
        **{
            "retention.raw": raw,
            "retention.vod_raw": vod_raw,
            "retention.curated": curated,
            "retention.keep_runs": keep_runs,
            "retention.runs": runs_older_than,
            "retention.tracking": tracking_older_than,
        },
    )
    try:
        at = parse_timestamp(now) if now else datetime.now(UTC)
    except ValueError as exc:
        raise ConfigError(f"--now: {exc}") from None
    the_lake = checks.existing_lake(settings)
    with err_console.status("listing the lake"):
        keep = deliveries_keep(settings.kick.max_age, settings.collect.interval)
        result = plan_prune(the_lake, settings.retention, now=at, deliveries=keep)
    _render(result, show=show)
    if not result.expired and not result.runs and not result.caches:
        line("nothing to prune")
        return
    files = len(result.expired) + sum(len(r.files) for r in (*result.runs, *result.caches))
    if not apply:
        line(
            f"dry run: {files} file(s) would be deleted ({len(result.expired)} data file(s), "
            f"{len(result.runs)} run(s), {len(result.caches)} tracking cache(s)); "
            "run again with --apply to delete them"
        )
        return
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("deleting", total=len(result.expired))
        deleted = apply_prune(the_lake, result, progress=lambda _: progress.advance(task))
    line(
        f"deleted {deleted} file(s), {len(result.runs)} run(s), "
        f"{len(result.caches)} tracking cache(s)"
    )


@lake_app.command()
def check(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    reachable: Annotated[
        bool,
        typer.Option(
            "--reachable",
            help="Only check that the settings resolve and the lake answers (or can be "
            "created): one cheap call, the container healthcheck.",
        ),
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="The same as --reachable.", hidden=True)
    ] = False,
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Also read every row and check each file's SHA-256."),
    ] = False,
) -> None:
    """What the lake holds: tables, rows, time range, platforms, runs; exit 2 when the lake
    does not exist or has unreadable files."""
    settings = resolve(lake, config, preset)
    the_lake = Lake.open(settings.lake)
    if reachable or quick:
        line(check_lake(the_lake))
        return
    check_lake(the_lake)
    the_lake = checks.existing_lake(settings)
    inv = describe(the_lake)
    if inv.empty:
        line(f"lake {the_lake.url} is empty: no table has any file yet")
    else:
        line(f"lake {the_lake.url}")
        table(
            ["table", "files", "rows", "first", "last", "platforms", "unreadable"],
            (
                (
                    t.name,
                    t.files,
                    t.rows,
                    checks.fmt_time(t.first) if t.first else "",
                    checks.fmt_time(t.last) if t.last else "",
                    ",".join(t.platforms),
                    len(t.unreadable),
                )
                for t in inv.tables
                if t.files
            ),
            right=["files", "rows", "unreadable"],
        )
    _show_runs(the_lake)
    bad = [path for t in inv.tables for path in t.unreadable]
    if bad:
        raise LakeError(
            f"lake {the_lake.url}: {len(bad)} unreadable Parquet file(s), e.g. {bad[0]} "
            "(truncated or damaged)"
        )
    report = scan_lake(the_lake, deep=deep)
    if report.damaged:
        raise LakeError(f"lake {the_lake.url}: {report.line()}")
    line(report.line())


def _show_runs(lake: Lake) -> None:
    from vieweratlas.runs import list_runs

    runs = list_runs(lake)
    if not runs:
        line("runs: none")
        return
    newest = runs[0]
    line(
        f"runs: {len(runs)}; newest {newest.run_id} (made {newest.created_at}, data "
        f"{newest.window_start} … {newest.window_end}); list them with vieweratlas runs"
    )


@lake_app.command()
def athena(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    database: Annotated[str, typer.Option(help="Athena/Glue database name.")] = "vieweratlas",
) -> None:
    """Print Athena DDL (partition projection) for the curated tables of an s3:// lake."""
    settings = resolve(lake, config, preset)
    sys.stdout.write(create_tables(settings.lake, database=database))


def _fmt(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _render(result: PrunePlan, *, show: int) -> None:
    groups = result.by_rule()
    table(
        ["rule", "prefix", "keep", "expired", "kept"],
        (
            (
                rule.name,
                rule.prefix,
                "forever" if rule.keep is None else _fmt(rule.keep),
                len(groups[rule.name]),
                result.kept[rule.name],
            )
            for rule in result.rules
        ),
        right=["expired", "kept"],
    )
    for rule in result.rules:
        items = groups[rule.name]
        for item in items[:show]:
            line(f"  expired ({item.age_days}d old): {item.path}")
        if len(items) > show:
            line(f"  … and {len(items) - show} more under {rule.prefix}")
    if result.undated:
        line(f"{result.undated} file(s) without a date= partition are kept")
    _expired_groups("runs", "run", result.runs, result.runs_kept, show)
    if not result.runs and not result.runs_kept:
        note("runs are kept: prune them with --keep-runs N or --runs-older-than 30d")
    _expired_groups("tracking caches", "cache", result.caches, result.caches_kept, show)


def _expired_groups(
    title: str, kind: str, expired: tuple[ExpiredRun, ...], kept: int, show: int
) -> None:
    """Runs (or tracking caches) that expire, the first ``show`` of them by name."""
    if not expired and not kept:
        return
    line(f"{title}: {len(expired)} expired, {kept} kept")
    for item in expired[:show]:
        line(f"  expired {kind} {item.run_id} ({item.reason}; {len(item.files)} file(s))")
    if len(expired) > show:
        line(f"  … and {len(expired) - show} more {kind}s")


@lake_app.command()
def compact(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Only this table (repeatable; default: all)."),
    ] = None,
) -> None:
    """Merge each partition's small or overlapping files into few sorted ones, atomically."""
    settings = resolve(lake, config, preset)
    names = tuple(table or ())
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ConfigError(f"--table {unknown[0]!r}: unknown table (known: {', '.join(TABLES)})")
    the_lake = checks.existing_lake(settings)
    done = compact_lake(the_lake, names, progress=lambda c: note(f"compacted {c.partition}"))
    if not done:
        line("nothing to compact")
        return
    before = sum(c.files_before for c in done)
    after = sum(c.files_after for c in done)
    line(f"compacted {len(done)} partition(s): {before} file(s) → {after}")
