"""The Typer application and its sub-command groups; command modules add to them."""

from __future__ import annotations

from typing import Annotated

import typer

from vieweratlas import __version__

app = typer.Typer(
    name="vieweratlas",
    help="Map which channels share audiences, and draw their communities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
import_app = typer.Typer(help="Load presence or channel metadata files into the lake.")
collect_app = typer.Typer(
    help="Collect presence: Twitch (live IRC, chatters, VOD replay), Kick, YouTube."
)
lake_app = typer.Typer(help="Lake maintenance: report, retention, Athena DDL.")
app.add_typer(import_app, name="import")
app.add_typer(collect_app, name="collect")
app.add_typer(lake_app, name="lake")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vieweratlas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Map which channels share audiences, and draw their communities."""
