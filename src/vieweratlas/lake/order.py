"""Sorting and de-duplicating one file's rows with integer keys (no string sorting).

The file order is the spec's ``sort`` (then the rest of the key). A leading string column
(presence: ``user``) is ordered by a 64-bit hash of its bytes, then by the string itself:
every value's rows stay together (one run per viewer, what the analysis and the Parquet
dictionaries want) without sorting millions of strings — the per-row work is hashing.
The other ordering columns become dense int64 ranks (strings through a dictionary whose
entries are ranked once). The keys are packed into one int64 (one ``argsort``), or sorted
with ``lexsort`` when they do not fit. Rows whose truncated hashes collide are put in exact
order afterwards (a handful per file; any number, vectorised, for hostile input), so the
order is a function of the rows alone: the same rows always give the same file, byte for
byte. Duplicates of the key are then adjacent, and the preferred one of each run is kept.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.lake.schema import TableSpec

_MIN_HASH_BITS = 32  # fewer bits left for the hash in a packed key: lexsort instead
_P = np.uint64(0x9E3779B97F4A7C15)  # spreads the length over the word


def rank(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dense int64 ranks preserving order (nulls first, as rank 0)."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return _dictionary_rank(col)
    values = col.cast(pa.int64())
    if len(values) == 0:
        return np.zeros(0, np.int64)
    lo, hi = pc.min_max(values).values()
    if lo.as_py() is None:
        return np.zeros(len(values), np.int64)
    if hi.as_py() - lo.as_py() >= 1 << 16:  # wide (µs times): rank the distinct values
        return _dictionary_rank(values)
    arr = np.asarray(pc.fill_null(values, lo.as_py() - 1).to_numpy(zero_copy_only=False))
    shifted: np.ndarray = arr - (lo.as_py() - (1 if values.null_count else 0))
    return shifted.astype(np.int64, copy=False)


def _dictionary_rank(col: pa.Array) -> np.ndarray:
    enc = pc.dictionary_encode(col)
    order = pc.rank(enc.dictionary, sort_keys="ascending", tiebreaker="dense")
    ranks = np.concatenate(([0], order.to_numpy(zero_copy_only=False).astype(np.int64)))
    idx = pc.fill_null(enc.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
    out: np.ndarray = ranks[idx + 1]
    return out


def string_hash(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A 64-bit hash of every string's UTF-8 bytes (nulls hash like empty strings).

    Defined here, not borrowed from a library, so that files written by another version
    sort the same way: the length, then each 8-byte little-endian word of the bytes (the
    last one zero-padded), folded in with the splitmix64 finaliser. Vectorised per word:
    a login is two or three words, so the per-row work is a few multiplications.
    """
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    col = pc.fill_null(col.cast(pa.large_string()), "")
    n = len(col)
    bufs = col.buffers()
    offsets = np.frombuffer(bufs[1], np.int64, n + 1, col.offset * 8)
    lengths = np.diff(offsets)
    h = _mix(lengths.astype(np.uint64) * _P)
    total = int(offsets[-1] - offsets[0])
    if total == 0 or bufs[2] is None:
        return h
    # Every 8-byte window of the bytes, as little-endian words (7 zero bytes appended so
    # that the last windows exist); a string's k-th word is the window at its start + 8k.
    data = np.zeros(total + 8, np.uint8)
    data[:total] = np.frombuffer(bufs[2], np.uint8, total, int(offsets[0]))
    windows = np.ndarray((total + 1,), np.dtype("<u8"), data, 0, (1,))
    starts = offsets[:-1] - offsets[0]
    rows = np.arange(n)
    k = 0
    while True:
        active = lengths[rows] > 8 * k
        rows = rows[active]
        if len(rows) == 0:
            return h
        word = windows[starts[rows] + 8 * k]
        left = lengths[rows] - 8 * k
        short = left < 8  # the last word: keep only the string's own bytes
        shift = (8 * np.where(short, left, 8)).astype(np.uint64)
        mask = np.where(short, (np.uint64(1) << (shift & np.uint64(63))) - np.uint64(1), _ALL)
        h[rows] = _mix(h[rows] ^ (word & mask))
        k += 1


_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (wrapping uint64 arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def _widths(keys: list[np.ndarray]) -> list[int]:
    return [int(k.max()).bit_length() if len(k) else 0 for k in keys]


def _sort(
    lead: np.ndarray | None, keys: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(permutation, the major key as sorted on, the packed key or None) for ``lead`` (a
    uint64 hash, or None) then ``keys`` (most significant first). Rows of one key have one
    packed value; rows of two keys have two, unless their strings differ (and share the
    truncated hash)."""
    widths = _widths(keys)
    rest = sum(widths)
    major: np.ndarray
    if lead is not None and 63 - rest >= _MIN_HASH_BITS:
        major = (lead >> np.uint64(64 - (63 - rest))).astype(np.int64)
        widths = [63 - rest, *widths]
        keys = [major, *keys]
    elif lead is not None:
        major = lead
        keys = [lead, *keys]
        widths = [64, *widths]
    else:
        major = keys[0]
    if sum(widths) <= 63:
        packed = np.zeros(len(keys[0]), np.int64)
        for k, w in zip(keys, widths, strict=True):
            packed = (packed << w) | k
        # Not stable: rows with equal packed keys are equal in every ordering column (or
        # collide on the hash, fixed by the caller), and duplicates are ordered again.
        perm: np.ndarray = np.argsort(packed)
        return perm, major, packed
    lex: np.ndarray = np.lexsort(keys[::-1])
    return lex, major, None


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
    head = table.column(order[0])
    if pa.types.is_dictionary(head.type):
        head = head.cast(head.type.value_type)
    hashed = pa.types.is_string(head.type) or pa.types.is_large_string(head.type)
    if not hashed:
        keys = [rank(table.column(n)) for n in order]
        perm, _, packed = _sort(None, keys)
        first = _run_starts([packed[perm]] if packed is not None else [k[perm] for k in keys])
        del keys, packed
        return _dedupe(table, order, perm, first)
    lead = string_hash(head)
    keys = [rank(table.column(n)) for n in order[1:]]
    perm, major, packed = _sort(lead, keys)
    if major is not lead:  # a truncated hash: order the rows of equal truncations fully
        perm = _reorder(perm, major, [lead, *keys])
    # Only the leading strings are gathered before the duplicates are known; the other
    # columns are gathered once, for the rows kept.
    head = head.combine_chunks() if isinstance(head, pa.ChunkedArray) else head
    sorted_head = head.take(pa.array(perm))
    differ = _differ(sorted_head)
    hashes = lead[perm]
    if (differ & (hashes[1:] == hashes[:-1])).any():  # two strings, one 64-bit hash
        exact = np.zeros(len(perm), np.int64)
        perm = _reorder(perm, lead, [exact, *keys], strings=head)
        sorted_head = head.take(pa.array(perm))
        differ = _differ(sorted_head)
    # Equal strings have equal hashes: the packed key (one gather) and where the strings
    # differ tell the runs of one key apart.
    first = _run_starts(
        [packed[perm]] if packed is not None else [k[perm] for k in (lead, *keys)], differ
    )
    del head, lead, keys, packed, major, hashes, differ  # not held during the gather
    same_type = table.column(order[0]).type == sorted_head.type  # not a dictionary
    return _dedupe(table, order, perm, first, (order[0], sorted_head) if same_type else None)


def take(table: pa.Table, perm: np.ndarray, done: dict[str, pa.Array] | None = None) -> pa.Table:
    """``table.take(perm)``, without gathering columns that hold one value (a constant
    ``source``, an all-null ``user_id``): the gather is the costliest step of a sort.
    ``done`` holds columns already gathered by ``perm``."""
    indices = pa.array(perm)
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if done and name in done:
            columns.append(done[name])
            continue
        if col.null_count == len(col):
            columns.append(pa.nulls(len(perm), col.type))
            continue
        if not col.null_count and not pa.types.is_dictionary(col.type):
            if _varies_in_length(col):  # names: not constant, without comparing strings
                columns.append(col.take(indices))
                continue
            lo, hi = pc.min_max(col).values()
            if lo.is_valid and lo == hi:
                columns.append(pa.repeat(lo, len(perm)))
                continue
        columns.append(col.take(indices))
    return pa.Table.from_arrays(columns, schema=table.schema)


def _varies_in_length(col: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a string column holds values of different lengths (read from the offsets)."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return False
    lo, hi = pc.min_max(pc.binary_length(col)).values()
    return bool(lo != hi)


def _reorder(
    perm: np.ndarray,
    major: np.ndarray,
    keys: list[np.ndarray],
    *,
    strings: pa.ChunkedArray | pa.Array | None = None,
) -> np.ndarray:
    """Rows sorted by ``major`` put in order of ``keys`` within runs of one ``major`` value
    where the first key varies (or, with ``strings``, where the strings do: the first key
    is then replaced by the strings' exact ranks). Only those runs are touched."""
    sorted_major = major[perm]
    same = sorted_major[1:] == sorted_major[:-1]
    if strings is None:
        k0 = keys[0][perm]
        varies = k0[1:] != k0[:-1]
    else:
        col = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
        varies = _differ(col.take(pa.array(perm)))
    bad = same & varies
    if not bad.any():
        return perm
    run = np.concatenate(([0], np.cumsum(~same)))
    marked = np.zeros(int(run[-1]) + 1, dtype=bool)
    marked[run[1:][bad]] = True
    pos = np.flatnonzero(marked[run])
    rows = perm[pos]
    sub = [k[rows] for k in keys]
    if strings is not None:
        sub[0] = _dictionary_rank(col.take(pa.array(rows)))
    inner = np.lexsort([*sub[::-1], run[pos]])
    out = perm.copy()
    out[pos] = rows[inner]
    return out


def _dedupe(
    table: pa.Table,
    order: list[str],
    perm: np.ndarray,
    first: np.ndarray,
    gathered: tuple[str, pa.Array] | None = None,
) -> pa.Table:
    """``table`` taken by ``perm``, one row per run of equal keys (``first``: the sorted
    positions where runs start); ``gathered`` is a column already taken by ``perm``."""
    if len(first) == len(perm):
        return take(table, perm, dict([gathered]) if gathered else None)
    prefer = []
    if "messages" in table.column_names:
        m = rank(table.column("messages"))
        prefer = [int(m.max()) - m]
    chosen = _winners(table, order, perm, first, prefer)  # ascending sorted positions
    done = None
    if gathered is not None:
        done = {gathered[0]: gathered[1].take(pa.array(chosen))}
    return take(table, perm[chosen], done)


def _differ(values: pa.Array) -> np.ndarray:
    """For each adjacent pair, whether the values differ."""
    if len(values) < 2:
        return np.zeros(0, dtype=bool)
    ne = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
    both_null = pc.and_(values.slice(1).is_null(), values.slice(0, len(values) - 1).is_null())
    out = pc.if_else(both_null, False, pc.fill_null(ne, True))
    arr: np.ndarray = out.to_numpy(zero_copy_only=False)
    return arr


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


def _run_starts(sorted_keys: list[np.ndarray], differ: np.ndarray | None = None) -> np.ndarray:
    n = len(sorted_keys[0])
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    if differ is not None:
        change[1:] |= differ
    return np.flatnonzero(change)
