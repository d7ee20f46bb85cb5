"""``vieweratlas sql`` (ad-hoc SQL over the lake) and ``vieweratlas config``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import yaml
from rich.table import Table

from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, console, resolve
from vieweratlas.config import example_yaml, redacted
from vieweratlas.lake import Lake


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views presence, channels, vods.")],
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 100,
) -> None:
    """Run SQL (DuckDB) over the lake: views `presence`, `channels` and `vods`."""
    settings = resolve(lake, config, preset)
    result = Lake.open(settings.lake).sql(query)
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(result, sys.stdout.buffer)
    elif fmt == "json":
        import json

        for row in result.to_pylist():
            sys.stdout.write(json.dumps(row, default=str) + "\n")
    else:
        table = Table(*result.column_names, show_edge=False)
        for row in result.slice(0, limit).to_pylist():
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(table)
        if result.num_rows > limit:
            console.print(f"… {result.num_rows - limit} more rows (use --limit or --format csv)")


@app.command(name="config")
def config_cmd(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    example: Annotated[
        bool, typer.Option("--example", help="Print the documented example config.yaml.")
    ] = False,
) -> None:
    """Show the resolved settings (secrets masked), or the documented example file."""
    if example:
        sys.stdout.write(example_yaml())
        return
    settings = resolve(lake, config, preset)
    sys.stdout.write(yaml.safe_dump(redacted(settings), sort_keys=False))
