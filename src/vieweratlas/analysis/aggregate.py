"""Presence rows → a viewer × channel incidence matrix with repeat counts."""

from __future__ import annotations

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
    matrix: sp.csr_matrix
    row_user: np.ndarray  # int32 user code of every presence row
    row_window: np.ndarray  # int32 snapshot code of every presence row
    windows: int  # distinct snapshot times
    presence_rows: int


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        chunks = encoded.chunks
        if not chunks:
            return np.zeros(0, np.int32), pa.array([], pa.string())
        dictionary = chunks[0].dictionary  # dictionary_encode shares one across chunks
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
    else:
        dictionary = encoded.dictionary
        codes = encoded.indices.to_numpy(zero_copy_only=False)
    return codes.astype(np.int32, copy=False), dictionary


def aggregate(presence: pa.Table) -> Incidence:
    """``presence`` needs columns ``ts``, ``channel``, ``user`` (one row per key)."""
    if presence.num_rows == 0:
        raise AnalysisError("no presence rows in the selected window")
    user_code, users = _codes(presence["user"])
    channel_code, channels = _codes(presence["channel"])
    window_code, _ = _codes(presence["ts"])
    data = np.ones(len(user_code), dtype=np.int32)
    # COO → CSR sums duplicates: each (user, channel) cell counts the snapshots it was seen in.
    matrix = sp.csr_matrix(
        (data, (user_code, channel_code)), shape=(len(users), len(channels)), dtype=np.int32
    )
    matrix.sum_duplicates()
    return Incidence(
        users=users,
        channels=channels,
        matrix=matrix,
        row_user=user_code,
        row_window=window_code,
        windows=int(window_code.max()) + 1,
        presence_rows=presence.num_rows,
    )
