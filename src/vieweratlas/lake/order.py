"""Sorting and de-duplicating one file's rows with integer ranks (no string comparisons).

Each ordering column becomes an int64 rank (strings through a dictionary whose entries
are ranked once: the per-row work is hashing, not comparing strings), the ranks are packed
into one int64 key when they fit (one ``argsort``) or sorted with ``lexsort`` otherwise,
and duplicates of the key are adjacent afterwards: the first of each run is kept.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.lake.schema import TableSpec


def rank(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dense-ish int64 ranks preserving order (nulls first, as rank 0)."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        enc = pc.dictionary_encode(col)
        order = pc.rank(enc.dictionary, sort_keys="ascending", tiebreaker="dense")
        ranks = np.concatenate(([0], order.to_numpy(zero_copy_only=False).astype(np.int64)))
        idx = pc.fill_null(enc.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
        out: np.ndarray = ranks[idx + 1]
        return out
    values = col.cast(pa.int64())
    if len(values) == 0:
        return np.zeros(0, np.int64)
    if values.null_count:  # nulls first: a dense rank with room for them at 0
        lo = pc.min(values).as_py()
        values = pc.fill_null(values, (lo if lo is not None else 0) - 1)
    arr = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)
    shifted: np.ndarray = arr - arr.min()
    return shifted


def _sort(keys: list[np.ndarray]) -> np.ndarray:
    """Permutation sorting by ``keys`` (most significant first)."""
    widths = [int(k.max()).bit_length() if len(k) else 0 for k in keys]
    if sum(widths) <= 63:
        packed = np.zeros(len(keys[0]), np.int64)
        for k, w in zip(keys, widths, strict=True):
            packed = (packed << w) | k
        # Not stable: rows with equal packed keys are equal in every ordering column, and
        # when that includes duplicates, sort_unique orders them again by all columns.
        perm: np.ndarray = np.argsort(packed)
        return perm
    lex: np.ndarray = np.lexsort(keys[::-1])
    return lex


def sort_unique(spec: TableSpec, table: pa.Table) -> pa.Table | None:
    """``table`` sorted by the spec's order, one row per key; None if this cannot apply.

    Presence keeps the duplicate with the most messages; remaining ties are broken by the
    other columns, so the same rows always come out the same, byte for byte.
    """
    order = [*spec.sort, *[k for k in spec.key if k not in spec.sort]]
    if set(order) != set(spec.key):  # duplicates would not be adjacent: use SQL instead
        return None
    if table.num_rows == 0:
        return table
    ranks = {name: rank(table.column(name)) for name in order}
    keys = [ranks[n] for n in order]
    prefer = []
    if "messages" in table.column_names:
        m = rank(table.column("messages"))
        prefer = [int(m.max()) - m]
    perm = _sort([*keys, *prefer])
    first = _run_starts([k[perm] for k in keys])
    if len(first) < len(perm):
        perm = perm[_winners(table, order, perm, first, prefer)]
    return table.take(pa.array(perm))


def _winners(
    table: pa.Table, order: list[str], perm: np.ndarray, first: np.ndarray, prefer: list[np.ndarray]
) -> np.ndarray:
    """Sorted positions of the row kept for each key: fully ordered among its duplicates.

    Only the rows of repeated keys are ranked by the remaining columns (few, usually).
    """
    lengths = np.diff(np.append(first, len(perm)))
    dup = lengths > 1
    run = np.repeat(np.arange(len(first)), lengths)
    pos = np.flatnonzero(dup[run])
    sub = table.take(pa.array(perm[pos]))
    rest = [c for c in sorted(table.column_names) if c not in order and c != "messages"]
    keys = [run[pos], *(p[perm[pos]] for p in prefer), *(rank(sub.column(c)) for c in rest)]
    inner = np.lexsort(keys[::-1])
    runs = run[pos][inner]
    heads = np.flatnonzero(np.concatenate(([True], runs[1:] != runs[:-1])))
    chosen = first.copy()
    chosen[dup] = pos[inner[heads]]
    return chosen


def _run_starts(sorted_keys: list[np.ndarray]) -> np.ndarray:
    n = len(sorted_keys[0])
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)
