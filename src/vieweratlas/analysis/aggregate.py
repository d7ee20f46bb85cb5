"""Presence rows → a viewer × channel incidence matrix with repeat counts.

Identities are platform-qualified: a channel is ``(platform, channel)`` and a viewer
``(platform, user)``, so the same name on two platforms is two channels (or two viewers).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from vieweratlas.errors import AnalysisError


@dataclass(frozen=True)
class Incidence:
    """Who was seen where.

    ``matrix[u, c]`` is the number of snapshots in which user ``u`` was present in channel
    ``c`` (CSR, users × channels). ``row_user``/``row_window`` keep the per-row codes that the
    bot heuristics need (how many channels a user sits in at the same time).
    """

    users: pa.Array  # user login per row of ``matrix``
    channels: pa.Array  # channel login per column of ``matrix``
    user_platform: pa.Array  # platform per row of ``matrix``
    channel_platform: pa.Array  # platform per column of ``matrix``
    matrix: sp.csr_matrix
    row_user: np.ndarray  # int32 user code of every presence row
    row_window: np.ndarray  # int32 snapshot code of every presence row
    windows: int  # distinct snapshot times
    presence_rows: int


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes and the values they stand for (every value used at least once).

    A column read dictionary-encoded from Parquet has one dictionary per row group, shared
    by the row group's batches: each distinct dictionary is hashed once (not once per
    batch, as ``unify_dictionaries`` does) and the batches' indices are mapped through it.
    Anything else is dictionary-encoded here.
    """
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    chunks = encoded.chunks
    if not chunks:
        return np.zeros(0, np.int32), pa.array([], pa.string())
    first: dict[tuple[int, ...], int] = {}  # a dictionary's buffers → its offset in `parts`
    parts: list[pa.Array] = []
    starts: list[int] = []
    total = 0
    for chunk in chunks:
        d = chunk.dictionary
        key = (*(0 if b is None else b.address for b in d.buffers()), d.offset, len(d))
        if key not in first:
            first[key] = total
            parts.append(d)
            total += len(d)
        starts.append(first[key])
    if len(parts) == 1:
        dictionary, to_global = parts[0], None
    else:
        merged = pc.dictionary_encode(pa.concat_arrays(parts))
        dictionary = merged.dictionary
        to_global = merged.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    codes = np.empty(len(encoded), np.int32)
    pos = 0
    for chunk, start in zip(chunks, starts, strict=True):
        idx = chunk.indices.to_numpy(zero_copy_only=False)
        end = pos + len(idx)
        if to_global is None:
            codes[pos:end] = idx
        else:
            np.take(to_global[start:], idx, out=codes[pos:end])
        pos = end
    used = np.bincount(codes, minlength=len(dictionary)) > 0
    if not used.all():  # rows filtered out after reading (e.g. by time) left stale entries
        remap = (np.cumsum(used) - 1).astype(np.int32)
        codes = remap[codes]
        dictionary = dictionary.filter(pa.array(used))
    return codes, dictionary


def aggregate(
    presence: pa.Table | MutableMapping[str, pa.ChunkedArray], *, default_platform: str = "twitch"
) -> Incidence:
    """``presence`` needs columns ``ts``, ``channel``, ``user`` (one row per key) and may have
    ``platform`` (rows without it belong to ``default_platform``).

    Given a mutable mapping of columns instead of a table, each column is removed from it
    once encoded, so a caller that holds no other reference frees the presence column by
    column while the matrix is built (at 100M rows, gigabytes less at the peak).
    """
    columns: MutableMapping[str, pa.ChunkedArray] = (
        {name: presence.column(name) for name in presence.column_names}
        if isinstance(presence, pa.Table)
        else presence
    )
    rows = len(columns["ts"])
    if rows == 0:
        raise AnalysisError("no presence rows in the selected window")
    window_code = _window_codes(columns.pop("ts"))
    user_code, users = _codes(columns.pop("user"))
    channel_code, channels = _codes(columns.pop("channel"))
    if "platform" in columns:
        platform_code, platforms = _codes(columns.pop("platform"))
    else:
        platform_code, platforms = np.zeros(0, np.int32), pa.array([default_platform])
    if len(platforms) > 1:
        user_code, users, user_platform = _qualify(user_code, users, platform_code, platforms)
        channel_code, channels, channel_platform = _qualify(
            channel_code, channels, platform_code, platforms
        )
    else:
        user_platform = _repeat(platforms, len(users))
        channel_platform = _repeat(platforms, len(channels))
    del platform_code
    # Number channels in (platform, name) order: rows sorted by (user, channel) then give
    # sorted keys, and outputs list channels in a stable order.
    order = np.asarray(
        pc.sort_indices(
            pa.table({"p": channel_platform, "c": channels}),
            sort_keys=[("p", "ascending"), ("c", "ascending")],
        ),
        dtype=np.int32,
    )
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order), dtype=np.int32)
    channel_code = rank[channel_code]
    channels = channels.take(pa.array(order))
    channel_platform = channel_platform.take(pa.array(order))
    matrix = _count_matrix(user_code, channel_code, len(users), len(channels))
    return Incidence(
        users=users,
        channels=channels,
        user_platform=user_platform,
        channel_platform=channel_platform,
        matrix=matrix,
        row_user=user_code,
        row_window=window_code,
        windows=int(window_code.max()) + 1,
        presence_rows=rows,
    )


def _window_codes(ts: pa.ChunkedArray) -> np.ndarray:
    """Snapshot codes in time order: the few distinct times (a hash pass with no per-row
    output), then a binary search per chunk (no dictionary-encoded copy of the column)."""
    times = np.sort(pc.unique(ts).cast(pa.int64()).to_numpy(zero_copy_only=False))
    codes = np.empty(len(ts), np.int32)
    pos = 0
    for chunk in ts.chunks:
        values = chunk.cast(pa.int64()).to_numpy(zero_copy_only=False)
        codes[pos : pos + len(values)] = np.searchsorted(times, values)
        pos += len(values)
    return codes


def _repeat(platforms: pa.Array, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(platforms[0].as_py(), pa.string()), n)


def _qualify(
    codes: np.ndarray, names: pa.Array, platform_code: np.ndarray, platforms: pa.Array
) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """Codes of (platform, name) pairs: the same name on two platforms gets two codes."""
    key = platform_code.astype(np.int64) * len(names) + codes
    unique, inverse = np.unique(key, return_inverse=True)
    qualified_names = names.take(pa.array(unique % len(names)))
    qualified_platforms = platforms.take(pa.array(unique // len(names))).cast(pa.string())
    return inverse.astype(np.int32), qualified_names, qualified_platforms


def _count_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """CSR of how often each (row, col) pair occurs.

    Lake files are sorted by (user, channel, ts), so the keys of one file arrive sorted
    and one linear pass finds the runs; otherwise a sort comes first (in place; equal keys
    are interchangeable, so NumPy's fastest, unstable sort will do).
    """
    key = rows.astype(np.int64)
    key *= n_cols  # in place: no int64 temporaries of every row
    key += cols
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        key.sort()
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(starts, len(key))).astype(np.int32)
    unique = key[starts]
    row_of = unique // n_cols
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix(
        (counts, (unique % n_cols).astype(np.int32), indptr), shape=(n_rows, n_cols)
    )
