"""``vieweratlas lake …``: health (``check``), retention (``prune``), Athena DDL (``athena``)
and compaction (``compact``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from vieweratlas.cli.app import lake_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, console, resolve
from vieweratlas.config import parse_timestamp
from vieweratlas.errors import ConfigError, LakeError
from vieweratlas.lake import TABLES, Lake
from vieweratlas.lake.athena import create_tables
from vieweratlas.lake.compact import compact as compact_lake
from vieweratlas.lake.health import check_lake, scan_lake
from vieweratlas.lake.retention import PrunePlan, apply_prune, plan_prune


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
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this time (ISO-8601; tests).")
    ] = None,
    show: Annotated[int, typer.Option("--show", min=0, help="Files listed per rule.")] = 20,
) -> None:
    """Delete raw data past its retention (raw 30d, VOD raw 7d); dry run unless --apply."""
    settings = resolve(
        lake,
        config,
        preset,
        **{"retention.raw": raw, "retention.vod_raw": vod_raw, "retention.curated": curated},
    )
    try:
        at = parse_timestamp(now) if now else datetime.now(UTC)
    except ValueError as exc:
        raise ConfigError(f"--now: {exc}") from None
    the_lake = Lake.open(settings.lake)
    with console.status("listing the lake"):
        result = plan_prune(the_lake, settings.retention, now=at)
    _render(result, show=show)
    if not result.expired:
        console.print("nothing to prune")
        return
    if not apply:
        console.print(
            f"dry run: {len(result.expired)} file(s) would be deleted; "
            "run again with --apply to delete them"
        )
        return
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("deleting", total=len(result.expired))
        deleted = apply_prune(the_lake, result, progress=lambda _: progress.advance(task))
    console.print(f"deleted {deleted} file(s)")


@lake_app.command()
def check(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Only check that the lake answers (the healthcheck)."),
    ] = False,
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Read every row and check each file's SHA-256 too."),
    ] = False,
) -> None:
    """Check the lake answers and its Parquet files are whole; exit 2 naming a damaged one."""
    settings = resolve(lake, config, preset)
    the_lake = Lake.open(settings.lake)
    status = check_lake(the_lake)
    if quick:
        console.print(escape(status))
        return
    with console.status("checking data files"):
        report = scan_lake(the_lake, deep=deep)
    if report.damaged:
        raise LakeError(f"lake {the_lake.url}: {report.line()}")
    console.print(escape(f"{status}; {report.line()}"))


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
    the_lake = Lake.open(settings.lake)
    with console.status("compacting") as status:
        done = compact_lake(
            the_lake,
            names,
            progress=lambda c: status.update(f"compacted {escape(c.partition)}"),
        )
    if not done:
        console.print("nothing to compact")
        return
    before = sum(c.files_before for c in done)
    after = sum(c.files_after for c in done)
    console.print(f"compacted {len(done)} partition(s): {before} file(s) → {after}")


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
    table = Table("rule", "prefix", "keep", "expired", "kept", show_edge=False)
    groups = result.by_rule()
    for rule in result.rules:
        keep = "forever" if rule.keep is None else _fmt(rule.keep)
        table.add_row(
            rule.name, rule.prefix, keep, str(len(groups[rule.name])), str(result.kept[rule.name])
        )
    console.print(table)
    for rule in result.rules:
        items = groups[rule.name]
        for item in items[:show]:
            # Paths come from the bucket: print them as text, never as Rich markup.
            console.print(f"  expired ({item.age_days}d old): {escape(item.path)}")
        if len(items) > show:
            console.print(f"  … and {len(items) - show} more under {rule.prefix}")
    if result.undated:
        console.print(f"{result.undated} file(s) without a date= partition are kept")
