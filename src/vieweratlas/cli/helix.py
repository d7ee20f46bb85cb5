"""``vieweratlas discover``, ``collect chatters`` and ``collect vod`` (Helix and VOD replay)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from vieweratlas.cli import checks
from vieweratlas.cli.app import app, collect_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, err_console, resolve
from vieweratlas.cli.output import line, table
from vieweratlas.config import Settings
from vieweratlas.lake import Lake
from vieweratlas.metrics import ROWS_COLLECTED, JobRun
from vieweratlas.textsafe import terminal_safe

ChannelsFileOpt = Annotated[
    Path | None,
    typer.Option("--channels-file", help="File with one channel login per line."),
]
TopOpt = Annotated[
    int | None,
    typer.Option("--top", min=1, help="Track the current top N live channels (Helix)."),
]


def _channels(settings: Settings, channels_file: Path | None, top: int | None) -> list[str] | None:
    """Channel list from --channels-file (or collect.channels_file), else None (use --top)."""
    from vieweratlas.sources.twitch.helix import read_channels_file

    if channels_file is not None:
        return read_channels_file(channels_file)
    if top is None and settings.collect.channels_file is not None:
        return read_channels_file(settings.collect.channels_file)
    return None


@app.command()
def discover(
    top: Annotated[int, typer.Option("--top", min=1, help="How many top live channels.")] = 100,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
) -> None:
    """Helix: the current top live channels with game, language, viewers and title."""
    from vieweratlas.sources.twitch.helix import discover as run

    settings = resolve(lake, config, preset)
    checks.writable_lake(Lake.open(settings.lake))
    with err_console.status(f"Asking Helix for the top {top} live channels…"):
        result = run(settings, Lake.open(settings.lake), top=top)
    # Names, games and titles come from any streamer: output.table prints them inert.
    table(
        ["#", "channel", "viewers", "game", "language", "title"],
        (
            (i, s.user_login, s.viewer_count, s.game_name, s.language, s.title)
            for i, s in enumerate(result.streams[:15], start=1)
        ),
        right=["#", "viewers"],
    )
    line(
        f"{len(result.streams)} channels, {result.write.rows_written} new rows in "
        f"channels ({settings.lake})"
    )


@collect_app.command("chatters")
def chatters(
    channels_file: ChannelsFileOpt = None,
    top: TopOpt = None,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
) -> None:
    """Get Chatters presence for channels the configured account moderates."""
    from vieweratlas.sources.twitch.helix import collect_chatters

    settings = resolve(lake, config, preset, **{"collect.top": top})
    checks.writable_lake(Lake.open(settings.lake))
    channels = _channels(settings, channels_file, top)
    with err_console.status("Reading chatters…"):
        result = collect_chatters(
            settings,
            Lake.open(settings.lake),
            channels=channels,
            top=None if channels else settings.collect.top,
        )
    line(
        f"{len(result.channels)} channel(s) read, {len(result.skipped)} skipped "
        f"(not a moderator), {result.users} chatters, {result.write.rows_written} new rows"
    )
    if result.skipped:
        line("skipped: " + ", ".join(result.skipped[:20]))


@collect_app.command("vod")
def vod(
    channels_file: ChannelsFileOpt = None,
    top: TopOpt = None,
    max_age_days: Annotated[
        int | None, typer.Option("--max-age-days", help="Only VODs newer than this [30].")
    ] = None,
    min_views: Annotated[
        int | None, typer.Option("--min-views", help="Only VODs with this many views [100].")
    ] = None,
    bucket_len: Annotated[
        str | None, typer.Option("--bucket-len", help="Presence bucket length [5m].")
    ] = None,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
) -> None:
    """VOD chat replay of the tracked channels' recent archives into presence."""
    from vieweratlas.sources.twitch.vod import VodProgress, collect_vods

    settings = resolve(
        lake,
        config,
        preset,
        **{
            "collect.top": top,
            "vod.max_age_days": max_age_days,
            "vod.min_views": min_views,
            "vod.bucket_len": bucket_len,
        },
    )
    checks.writable_lake(Lake.open(settings.lake))
    channels = _channels(settings, channels_file, top)
    tasks: dict[str, TaskID] = {}
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[comments]:>8,} comments"),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:

        def show(p: VodProgress) -> None:
            task = tasks.get(p.video_id)
            if task is None:
                label = terminal_safe(f"[{p.index}/{p.total}] {p.channel} v{p.video_id}")
                task = bar.add_task(label, total=max(1, int(p.length_s)), comments=0)
                tasks[p.video_id] = task
            bar.update(task, completed=min(p.offset_s, p.length_s), comments=p.comments)

        with JobRun("vod") as run:
            result = collect_vods(
                settings,
                Lake.open(settings.lake),
                channels=channels,
                top=None if channels else settings.collect.top,
                progress=show,
            )
            run.count(ROWS_COLLECTED, result.rows_written)
    line(
        f"{result.channels} channel(s), {result.listed} recent archive(s), "
        f"{result.already_done} already in the lake, {len(result.processed)} replayed "
        f"({result.comments:,} comments → {result.rows_written:,} new presence rows)"
    )
    if result.unavailable:
        line(f"{len(result.unavailable)} VOD(s) unavailable: skipped")
