"""``vieweratlas import presence``, ``import channels`` and ``import creators``."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vieweratlas.cli import checks
from vieweratlas.cli.app import import_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve
from vieweratlas.cli.output import err_console, line
from vieweratlas.config import parse_timestamp
from vieweratlas.errors import ConfigError
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


# Times a snapshot can plausibly have: live streaming platforms did not exist before 2005.
EARLIEST = datetime(2005, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = parse_timestamp(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if not EARLIEST <= t < LATEST:
        raise ConfigError(
            f"{option}: {t:%Y-%m-%d} is outside the plausible range "
            f"{EARLIEST:%Y-%m-%d} … {LATEST:%Y-%m-%d}"
        )
    return t


@contextlib.contextmanager
def _progress(files: list[Path]) -> Iterator[Callable[[int], None]]:
    """A byte progress bar over ``files`` (stderr, terminal only); yields the callback the
    library calls. Once every byte is read the bar says so and pulses while the rows are
    committed to the lake, instead of sitting at 100 %."""
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("reading", total=total or None)
        seen = 0

        def advance(n: int) -> None:
            nonlocal seen
            seen += n
            if total and seen >= total:
                bar.update(task, description="committing to the lake", total=None)
            else:
                bar.advance(task, n)

        yield advance


def _summary(result: ImportResult, seconds: float) -> None:
    partitions = {posixpath.dirname(f) for f in result.files}
    line(
        f"{result.table}: {result.rows_in:,} rows read, {result.rows_written:,} new, "
        f"{result.duplicates:,} duplicates skipped, {len(result.files)} file(s) written "
        f"in {len(partitions)} partition(s) ({seconds:.1f}s)"
    )
    for notice in result.notices:  # what the import assumed or changed, never silently
        line(f"note: {notice}")


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
    the_lake = Lake.open(settings.lake)
    checks.writable_lake(the_lake)
    snap = _time("--snapshot-time", snapshot_time)
    base = _time("--base-time", base_time) or DEFAULT_BASE_TIME
    if fmt == "auto":
        for f in files:
            line(f"{f}: format {detect_format(f)}")
    started = time.perf_counter()
    with _progress(files) as advance:
        result = import_presence(
            the_lake,
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
    the_lake = Lake.open(settings.lake)
    checks.writable_lake(the_lake)
    snap = _time("--snapshot-time", snapshot_time)
    started = time.perf_counter()
    with _progress(files) as advance:
        result = import_channels(
            the_lake,
            files,
            platform=platform,
            snapshot_time=snap,
            progress=advance,
        )
    _summary(result, time.perf_counter() - started)


@import_app.command("creators")
def creators(
    file: Annotated[Path, typer.Argument(help="CSV with columns creator, platform, channel.")],
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
) -> None:
    """Load a creator map: channels on several platforms that are one creator.

    The analysis merges each creator's channels into one node, so communities can span
    platforms through creators. Every row is validated first; nothing is written on error.
    """
    import time

    from vieweratlas.ingest.creators import import_creators

    settings = resolve(lake, config, preset)
    started = time.perf_counter()
    result = import_creators(Lake.open(settings.lake), file)
    _summary(result, time.perf_counter() - started)
