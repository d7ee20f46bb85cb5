"""The one way ViewerAtlas opens DuckDB: UTC, no progress bar, bounded memory.

DuckDB's progress bar draws on stdout (corrupting machine-readable output), its default
time zone is the machine's, and its default memory limit is most of the machine: every
connection — SQL over the lake, import staging, chat aggregation — goes through
:func:`session` so they all behave the same.
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def session(
    database: str | Path = ":memory:",
    *,
    memory_limit: str | None = None,
    spill_dir: str | Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up the ViewerAtlas way (see the module docstring)."""
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=false")
    if memory_limit is not None:
        con.execute(f"SET memory_limit='{memory_limit}'")
    if spill_dir is not None:
        con.execute(f"SET temp_directory='{Path(spill_dir).as_posix()}'")
        con.execute("SET preserve_insertion_order=false")  # lets big sorts spill to disk
    return con
