"""``vieweratlas collect live``: live presence from Twitch chat (IRC) into the lake."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from vieweratlas.cli import checks
from vieweratlas.cli.app import collect_app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, err_console, resolve
from vieweratlas.cli.output import line
from vieweratlas.config import parse_duration
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import channel_source
from vieweratlas.sources.twitch.collector import LiveStatus, run_live

log = logging.getLogger(__name__)

# Without a terminal, one status log line this often (flushes log their own lines).
LOG_STATUS_EVERY = 60.0


class StatusView:
    """Turns status snapshots into messages/s and shows them (Rich on a TTY, else logs)."""

    def __init__(self, live: Live | None) -> None:
        self.live = live
        self._last: tuple[float, int] | None = None
        self._logged = time.monotonic()
        self.rate = 0.0

    def __call__(self, status: LiveStatus) -> None:
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            self.rate = (status.messages - self._last[1]) / (now - self._last[0])
        self._last = (now, status.messages)
        if self.live is not None:
            self.live.update(self.table(status))
        elif now - self._logged >= LOG_STATUS_EVERY:
            self._logged = now
            log.info(
                "status connections=%d/%d channels_joined=%d/%d messages_per_s=%.1f "
                "users_open_window=%d messages=%d reconnects=%d malformed=%d rows_written=%d",
                status.connected, status.connections, status.channels_joined,
                status.channels_wanted, self.rate, status.users_open_window, status.messages,
                status.reconnects, status.malformed, status.rows_written,
            )  # fmt: skip

    def table(self, s: LiveStatus) -> Table:
        table = Table(title="vieweratlas collect live", show_header=False, show_edge=False)
        table.add_row("connections", f"{s.connected}/{s.connections}")
        table.add_row("channels joined", f"{s.channels_joined}/{s.channels_wanted}")
        table.add_row("messages/s", f"{self.rate:,.1f}")
        table.add_row("users in the open window", f"{s.users_open_window:,}")
        table.add_row("messages", f"{s.messages:,}")
        table.add_row("windows flushed", f"{s.windows_flushed:,} ({s.rows_written:,} rows)")
        table.add_row("reconnects / malformed lines", f"{s.reconnects:,} / {s.malformed:,}")
        return table


@collect_app.command("live")
def live(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    channels_file: Annotated[
        Path | None,
        typer.Option("--channels-file", help="One channel login per line (channels.txt)."),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Track the Helix top N live channels (needs keys)."),
    ] = None,
    irc_url: Annotated[
        str | None,
        typer.Option("--irc-url", help="irc://host:port or ircs://host:port [default: Twitch]"),
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Snapshot window length, e.g. 5m.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Stop after this long (default: never).")
    ] = None,
) -> None:
    """Collect presence live from Twitch chat over IRC into the lake.

    Every --interval the closed window is written to the lake (source=irc); SIGTERM or
    Ctrl-C flushes the open window and exits 0.
    """
    if channels_file is not None and top is not None:
        raise ConfigError("give either --channels-file or --top, not both")
    settings = resolve(
        lake,
        config,
        preset,
        **{
            "twitch.irc_url": irc_url,
            "collect.interval": interval,
            "collect.channels_file": channels_file,
        },
    )
    try:
        until = parse_duration(duration) if duration is not None else None
    except ValueError as exc:
        raise ConfigError(f"--duration: {exc}") from None
    checks.writable_lake(Lake.open(settings.lake))
    source = channel_source(settings, channels_file=channels_file, top=top)
    if err_console.is_terminal:
        # The status table lives on stderr and goes when the run ends: the summary below is
        # what stays, printed once.
        with Live(console=err_console, refresh_per_second=2, transient=True) as display:
            view = StatusView(display)
            stats = asyncio.run(run_live(settings, source, duration=until, on_status=view))
    else:
        view = StatusView(None)
        stats = asyncio.run(run_live(settings, source, duration=until, on_status=view))
    line(
        f"collected {stats.messages:,} messages; {stats.windows_flushed:,} windows flushed, "
        f"{stats.rows_written:,} new presence rows in {settings.lake}"
    )
