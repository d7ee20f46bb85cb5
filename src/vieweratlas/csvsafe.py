"""CSV that is safe to open in a spreadsheet.

Channel names, games and titles are untrusted, and the run's CSV files are the ones people
open in Excel or LibreOffice. Following OWASP's guidance on CSV injection, a text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading
single quote, so the spreadsheet shows it as text instead of evaluating it. Numbers are
untouched. The Parquet files carry the exact values.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_TRIGGER = r"^[=+\-@\t\r]"


def neutralise(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text cells that a spreadsheet would evaluate, prefixed with ``'``; others unchanged."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    risky = pc.match_substring_regex(column, _TRIGGER)
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def safe_csv_bytes(table: pa.Table) -> bytes:
    """``table`` as CSV bytes with every text column neutralised (see the module docstring)."""
    columns = [neutralise(table.column(i)) for i in range(table.num_columns)]
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns, names=table.column_names), sink)
    return bytes(sink.getvalue())
