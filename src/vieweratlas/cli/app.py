"""The Typer application and its sub-command groups; command modules add to them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vieweratlas",
    help="Map which Twitch channels share audiences, and draw their communities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
import_app = typer.Typer(help="Load presence or channel metadata files into the lake.")
collect_app = typer.Typer(
    help="Collect presence: Twitch (live IRC, chatters, VOD replay), Kick, YouTube."
)
lake_app = typer.Typer(help="Lake maintenance (retention).")
app.add_typer(import_app, name="import")
app.add_typer(collect_app, name="collect")
app.add_typer(lake_app, name="lake")
