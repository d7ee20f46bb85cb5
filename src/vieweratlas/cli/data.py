"""``vieweratlas sql`` (ad-hoc SQL over the lake) and ``vieweratlas config``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import pyarrow as pa
import typer
import yaml

from vieweratlas.cli import checks
from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve
from vieweratlas.cli.output import inert_table, note, table
from vieweratlas.config import example_yaml, redacted
from vieweratlas.errors import ConfigError, LakeError
from vieweratlas.lake import TABLES, Lake
from vieweratlas.lake.inventory import describe

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

FORMATS = ("table", "csv", "json", "jsonl")


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help="SQL over the lake's tables (presence, channels, vods, …).")
    ],
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (tab-separated when piped) | csv | json (one array) | jsonl (a line "
            "per row)",
        ),
    ] = "table",
    limit: Annotated[int, typer.Option(min=0, help="Rows shown in table format.")] = 100,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Run whose outputs are the views nodes, edges, communities, … "
            "[default: the newest run]",
        ),
    ] = None,
) -> None:
    """Run SQL (DuckDB) over the lake: a view per lake table, and the run outputs
    (nodes, edges, communities, …) of the newest run or --run."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    settings = resolve(lake, config, preset)
    the_lake = checks.existing_lake(settings)
    result = run_sql(the_lake, query, run)
    write_result(result, fmt, limit=limit)
    if describe(the_lake).empty:
        note(f"note: lake {the_lake.url} is empty (no table has any file)")


def run_sql(lake: Lake, query: str, run_id: str | None) -> pa.Table:
    """``query`` over the lake's tables plus the run outputs of ``run_id`` (None: newest)."""
    import duckdb

    con = lake.connect()
    try:
        _register_run(con, lake, run_id)
        relation = con.sql(query)
        if relation is None:  # a statement without a result (SET, CREATE VIEW, …)
            return pa.table({})
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise LakeError(f"sql: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def _register_run(con: DuckDBPyConnection, lake: Lake, run_id: str | None) -> None:
    """Views of a run's tables, named after their files (``nodes``, ``edges``, …)."""
    from vieweratlas.runs import list_runs, open_run

    if run_id is None and not list_runs(lake):
        return
    chosen = open_run(lake, run_id)
    names = {f.rsplit(".", 1)[0] for f in chosen.files if f.endswith((".parquet", ".csv"))}
    for name in sorted(names - set(TABLES)):
        try:
            con.register(name, chosen.table(name))
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise LakeError(f"run {chosen.run_id}: {name} is unreadable ({exc})") from None


def write_result(result: pa.Table, fmt: str, *, limit: int) -> None:
    """Print a query result on stdout in ``fmt``; data never reaches a terminal raw."""
    out = sys.stdout
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        try:
            pacsv.write_csv(inert_table(result), sink)
            out.write(sink.getvalue().to_pybytes().decode("utf-8"))
        except pa.ArrowNotImplementedError as exc:
            raise LakeError(
                f"sql: a column cannot be written as CSV ({exc}); use --format json"
            ) from None
    elif fmt in ("json", "jsonl"):
        # json.dumps escapes every control character (\u001b), so JSON is inert as it is.
        rows = (json.dumps(row, default=str) for row in result.to_pylist())
        if fmt == "jsonl":
            for text in rows:
                out.write(text + "\n")
        else:
            out.write("[" + ",\n".join(rows) + "]\n")
    else:
        table(result.column_names, (row.values() for row in result.slice(0, limit).to_pylist()))
        if result.num_rows > limit:
            note(f"… {result.num_rows - limit} more rows (use --limit or --format csv)")
    out.flush()


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
