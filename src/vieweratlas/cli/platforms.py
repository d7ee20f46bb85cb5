"""``vieweratlas collect kick`` and ``collect youtube``: Kick and YouTube live chat → lake."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from vieweratlas.cli.app import collect_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve
from vieweratlas.cli.output import err_console, line
from vieweratlas.config import parse_duration
from vieweratlas.errors import ConfigError
from vieweratlas.sources.common.sink import ChatStats, ChatStatus

log = logging.getLogger(__name__)

LOG_STATUS_EVERY = 60.0

ChannelsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--channels-file", help="One channel per line (Kick slug / YouTube @handle or id)."
    ),
]
IntervalOpt = Annotated[
    str | None, typer.Option("--interval", help="Snapshot window length, e.g. 5m.")
]
DurationOpt = Annotated[
    str | None, typer.Option("--duration", help="Stop after this long (default: never).")
]


class ChatStatusView:
    """Status snapshots as a Rich table on a TTY, else a log line every minute."""

    def __init__(self, live: Live | None) -> None:
        self.live = live
        self._last: tuple[float, int] | None = None
        self._logged = time.monotonic()
        self.rate = 0.0

    def __call__(self, s: ChatStatus) -> None:
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            self.rate = (s.messages - self._last[1]) / (now - self._last[0])
        self._last = (now, s.messages)
        if self.live is not None:
            table = Table(title=f"vieweratlas collect {s.what}", show_header=False)
            table.add_row("channels", f"{s.channels:,} ({s.connected} connected)")
            table.add_row("messages/s", f"{self.rate:,.1f}")
            table.add_row("users in the open window", f"{s.users_open_window:,}")
            table.add_row("messages", f"{s.messages:,}")
            table.add_row("windows flushed", f"{s.windows_flushed:,} ({s.rows_written:,} rows)")
            table.add_row(
                "refused / malformed / reconnects",
                f"{s.rejected:,} / {s.malformed:,} / {s.reconnects:,}",
            )
            self.live.update(table)
        elif now - self._logged >= LOG_STATUS_EVERY:
            self._logged = now
            log.info(
                "status %s channels=%d messages_per_s=%.1f users_open_window=%d messages=%d "
                "refused=%d malformed=%d reconnects=%d rows_written=%d",
                s.what, s.channels, self.rate, s.users_open_window, s.messages, s.rejected,
                s.malformed, s.reconnects, s.rows_written,
            )  # fmt: skip


def _run(
    start: Callable[[Callable[[ChatStatus], None]], Coroutine[Any, Any, ChatStats]], lake: str
) -> None:
    if sys.stderr.isatty():
        with Live(console=err_console, refresh_per_second=2, transient=False) as display:
            stats = asyncio.run(start(ChatStatusView(display)))
    else:
        stats = asyncio.run(start(ChatStatusView(None)))
    line(
        f"collected {stats.messages:,} messages; {stats.windows_flushed:,} windows flushed, "
        f"{stats.rows_written:,} new presence rows in {lake}"
    )


def _duration(text: str | None) -> timedelta | None:
    try:
        return parse_duration(text) if text is not None else None
    except ValueError as exc:
        raise ConfigError(f"--duration: {exc}") from None


@collect_app.command("kick")
def kick(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    channels_file: ChannelsFileOpt = None,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Follow Kick's top N live channels (needs app keys)."),
    ] = None,
    transport: Annotated[
        str | None,
        typer.Option("--transport", help="webhook (official, needs a public URL) or pusher."),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Webhook receiver address [127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Webhook receiver port [8080]; 0 picks one.")
    ] = None,
    interval: IntervalOpt = None,
    duration: DurationOpt = None,
) -> None:
    """Collect presence from Kick chat (webhooks or the Pusher websocket) into the lake.

    Every --interval the closed window is written (source=webhook or pusher); SIGTERM or
    Ctrl-C flushes the open window and exits 0.
    """
    from vieweratlas.sources.kick.collector import run_kick

    settings = resolve(
        lake,
        config,
        preset,
        **{
            "kick.transport": transport,
            "kick.listen_host": host,
            "kick.listen_port": port,
            "collect.interval": interval,
        },
    )
    until = _duration(duration)

    def start(view: Callable[[ChatStatus], None]) -> Coroutine[Any, Any, ChatStats]:
        return run_kick(
            settings, channels_file=channels_file, top=top, duration=until, on_status=view
        )

    _run(start, settings.lake)


@collect_app.command("youtube")
def youtube(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    channels_file: ChannelsFileOpt = None,
    video: Annotated[
        list[str] | None,
        typer.Option("--video", help="A video id to follow (repeatable); live or finished."),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option("--replay", help="Read finished streams' chat replay into buckets."),
    ] = False,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="YouTube base URL [https://www.youtube.com].")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="innertube (web client, no key) [default] or api (YouTube Data API v3: "
            "needs youtube.api_key, costs quota).",
        ),
    ] = None,
    interval: IntervalOpt = None,
    duration: DurationOpt = None,
) -> None:
    """Collect presence from YouTube live chat (source=innertube, or api) into the lake.

    Live chats are polled by continuation (the server's timeout hints respected); with
    --replay, finished streams' chat replay is bucketed like VOD replay. With --method api
    the official Data API is polled instead, within the youtube.api_quota budget. SIGTERM
    or Ctrl-C flushes the open window and exits 0.
    """
    from vieweratlas.sources.youtube.collector import run_youtube

    settings = resolve(
        lake,
        config,
        preset,
        **{"youtube.base_url": base_url, "youtube.method": method, "collect.interval": interval},
    )
    until = _duration(duration)
    if channels_file is None and not video:
        raise ConfigError("collect youtube needs --channels-file F or --video ID")
    if settings.youtube.method == "api" and settings.youtube.api_key is None:
        raise ConfigError(
            "collect youtube --method api needs youtube.api_key (VIEWERATLAS_YOUTUBE__API_KEY)"
        )

    def start(view: Callable[[ChatStatus], None]) -> Coroutine[Any, Any, ChatStats]:
        return run_youtube(
            settings,
            channels_file=channels_file,
            videos=tuple(video or ()),
            replay=replay,
            duration=until,
            on_status=view,
        )

    _run(start, settings.lake)
