"""``vieweratlas import presence`` and ``vieweratlas import channels``."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vieweratlas.cli.app import import_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, console, resolve
from vieweratlas.config import parse_timestamp
from vieweratlas.errors import InputError
from vieweratlas.ingest import (
    DEFAULT_BASE_TIME,
    FORMATS,
    ImportResult,
    detect_format,
    import_channels,
    import_presence,
)
from vieweratlas.lake import Lake

FilesArg = Annotated[
    list[Path], typer.Argument(help="Files to import (.csv, .parquet, .jsonl, .json, .gz).")
]
PlatformOpt = Annotated[str, typer.Option("--platform", help="Platform the rows belong to.")]
SnapshotOpt = Annotated[
    str | None,
    typer.Option(
        "--snapshot-time",
        help="Time of files without a ts column (ISO-8601 or epoch seconds) "
        "[default: the file's modification time, floored to the minute].",
    ),
]


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InputError(option, str(exc)) from None


@contextlib.contextmanager
def _progress(files: list[Path]) -> Iterator[Callable[[int], None]]:
    """A Rich byte progress bar over ``files``; yields the callback the library calls."""
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=total or None)
        yield lambda n: bar.advance(task, n)


def _summary(result: ImportResult, seconds: float) -> None:
    partitions = {posixpath.dirname(f) for f in result.files}
    console.print(
        f"{result.table}: {result.rows_in:,} rows read, {result.rows_written:,} new, "
        f"{result.duplicates:,} duplicates skipped, {len(result.files)} file(s) written "
        f"in {len(partitions)} partition(s) ({seconds:.1f}s)",
        soft_wrap=True,
    )
    for notice in result.notices:  # what the import assumed or changed, never silently
        console.print(f"note: {escape(notice)}", soft_wrap=True)


@import_app.command("presence")
def presence(
    files: FilesArg,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help=f"auto | {' | '.join(FORMATS)}"),
    ] = "auto",
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            help="Channel of chat files (required for chat-downloader; "
            "overrides TwitchDownloader's streamer.name).",
        ),
    ] = None,
    snapshot_time: SnapshotOpt = None,
    base_time: Annotated[
        str | None,
        typer.Option(
            "--base-time",
            help="Wall-clock time of step 0 in the interactions data set "
            f"[default: {DEFAULT_BASE_TIME:%Y-%m-%dT%H:%M:%SZ}].",
        ),
    ] = None,
    platform: PlatformOpt = "twitch",
) -> None:
    """Load presence rows (plain, interactions, TwitchDownloader, chat-downloader files)."""
    import time

    settings = resolve(lake, config, preset)
    snap = _time("--snapshot-time", snapshot_time)
    base = _time("--base-time", base_time) or DEFAULT_BASE_TIME
    if fmt == "auto":
        for f in files:
            console.print(f"{escape(str(f))}: format {detect_format(f)}", soft_wrap=True)
    started = time.perf_counter()
    with _progress(files) as advance:
        result = import_presence(
            Lake.open(settings.lake),
            files,
            fmt=fmt,
            platform=platform,
            snapshot_time=snap,
            bucket_len=settings.vod.bucket_len,
            channel=channel,
            base_time=base,
            progress=advance,
        )
    _summary(result, time.perf_counter() - started)


@import_app.command("channels")
def channels(
    files: FilesArg,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    snapshot_time: SnapshotOpt = None,
    platform: PlatformOpt = "twitch",
) -> None:
    """Load channel metadata (channel,game,language[,viewers,title,ts,channel_id,display_name])."""
    import time

    settings = resolve(lake, config, preset)
    snap = _time("--snapshot-time", snapshot_time)
    started = time.perf_counter()
    with _progress(files) as advance:
        result = import_channels(
            Lake.open(settings.lake),
            files,
            platform=platform,
            snapshot_time=snap,
            progress=advance,
        )
    _summary(result, time.perf_counter() - started)
