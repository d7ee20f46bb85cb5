"""Similar channels: one column of ``Bᵀ·B`` at a time, or the top few of every column.

``B`` is the binary viewer × channel matrix after bot removal (any stored value > 0 means
present; each (viewer, channel) pair is stored once, as :mod:`~vieweratlas.analysis.aggregate`
builds it). For a channel ``c`` with ``n_c`` viewers and another channel ``o``:

* ``shared`` — unique viewers seen in both (``(Bᵀ·B)[c, o]``);
* ``share_of_channel`` = shared / n_c, ``share_of_other`` = shared / n_o;
* ``lift`` = shared · N / (n_c · n_o): observed over expected if the two audiences were
  independent draws from the N viewers of the window (1 = chance, 10 = ten times chance).

One column costs the rows of ``c``'s viewers, not the whole product: a bincount over the
channels those viewers visited. Pure: arrays in, Arrow tables out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from vieweratlas.analysis.aggregate import Incidence
from vieweratlas.errors import AnalysisError

SORTS = ("shared", "lift")
MAX_COMPARED = 12  # channels compared at once (2^12 subsets bound the UpSet table)

SIMILAR_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("channel", pa.string()),
        ("other_platform", pa.string()),
        ("other", pa.string()),
        ("shared", pa.int64()),
        ("share_of_channel", pa.float64()),
        ("share_of_other", pa.float64()),
        ("lift", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Audience:
    """Who watched what in one window, bots removed: the input of every function here.

    ``matrix`` is users × channels (CSR, one stored entry per pair seen); column ``i`` is the
    channel ``(platform[i], channel[i])``; ``users`` is N, the viewers left after bots.
    """

    matrix: sp.csr_matrix
    platform: pa.Array
    channel: pa.Array
    users: int

    @property
    def n(self) -> int:
        return int(self.matrix.shape[1])

    def viewers(self) -> np.ndarray:
        """Unique viewers per channel (int64)."""
        return np.bincount(self.matrix.indices, minlength=self.n).astype(np.int64)


def _entry_rows(matrix: sp.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """Row (user) of every stored entry selected by ``mask``."""
    pos = np.flatnonzero(mask)
    return np.searchsorted(matrix.indptr, pos, side="right") - 1


def shared_with(matrix: sp.csr_matrix, column: int) -> np.ndarray:
    """``(Bᵀ·B)[:, column]``: viewers each channel shares with ``column`` (int64)."""
    users = _entry_rows(matrix, matrix.indices == column)
    sub = matrix[users]
    return np.bincount(sub.indices, minlength=matrix.shape[1]).astype(np.int64)


def _measures(
    shared: np.ndarray, n_c: np.ndarray, n_o: np.ndarray, users: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = shared.astype(np.float64)
    a = n_c.astype(np.float64)
    b = n_o.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a channel only bots watched
        out = s / a, s / b, s * float(users) / (a * b)
    return tuple(np.nan_to_num(x, nan=0.0, posinf=0.0) for x in out)  # type: ignore[return-value]


def _order(shared: np.ndarray, lift: np.ndarray, names: np.ndarray, sort: str) -> np.ndarray:
    if sort not in SORTS:
        raise AnalysisError(f"sort {sort!r}: choose from {', '.join(SORTS)}")
    if sort == "lift":
        return np.lexsort((names, -shared, -lift))
    return np.lexsort((names, -lift, -shared))


def similar_to(
    audience: Audience, column: int, *, top: int | None = 20, sort: str = "shared"
) -> pa.Table:
    """The channels sharing viewers with channel ``column``, best first (SIMILAR_SCHEMA)."""
    shared = shared_with(audience.matrix, column)
    viewers = audience.viewers()
    shared[column] = 0
    others = np.flatnonzero(shared)
    s = shared[others]
    n_c = np.full(len(others), viewers[column])
    soc, soo, lift = _measures(s, n_c, viewers[others], audience.users)
    names = np.asarray(audience.channel.take(pa.array(others, pa.int64())).to_pylist(), object)
    order = _order(s, lift, names.astype(str), sort)[: top or None]
    pick = pa.array(others[order], pa.int64())
    return pa.table(
        {
            "platform": pa.repeat(
                pa.scalar(audience.platform[column].as_py(), pa.string()), len(order)
            ),
            "channel": pa.repeat(
                pa.scalar(audience.channel[column].as_py(), pa.string()), len(order)
            ),
            "other_platform": audience.platform.take(pick).cast(pa.string()),
            "other": audience.channel.take(pick).cast(pa.string()),
            "shared": pa.array(s[order], pa.int64()),
            "share_of_channel": pa.array(soc[order], pa.float64()),
            "share_of_other": pa.array(soo[order], pa.float64()),
            "lift": pa.array(lift[order], pa.float64()),
        },
        schema=SIMILAR_SCHEMA,
    )


@dataclass(frozen=True)
class SharedPairs:
    """Every pair of channels sharing at least one viewer, each once (``a < b``): the upper
    triangle of ``Bᵀ·B`` without its diagonal (int32 arrays)."""

    a: np.ndarray
    b: np.ndarray
    shared: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def upper(self, n: int) -> sp.csr_matrix:
        """The upper triangle of ``Bᵀ·B`` without its diagonal as an n × n CSR."""
        return sp.csr_matrix((self.shared, (self.a, self.b)), shape=(n, n))

    def symmetric(self, n: int) -> sp.csr_matrix:
        """``Bᵀ·B`` without its diagonal as an n × n CSR (both halves)."""
        upper = self.upper(n)
        full: sp.csr_matrix = (upper + upper.T.tocsr()).tocsr()
        return full


def shared_pairs(matrix: sp.csr_matrix, *, block: int = 4096) -> SharedPairs:
    """:class:`SharedPairs` of the columns of ``matrix`` (users × channels, any value > 0
    means present), computed ``block`` channels at a time in int32: memory is the pairs
    themselves plus one block of the product, never the whole symmetric product."""
    b = matrix.astype(bool).astype(np.int32)
    b.eliminate_zeros()
    bt = b.T.tocsr()
    parts_a: list[np.ndarray] = []
    parts_b: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    for start in range(0, b.shape[1], block):
        co = (bt[start : start + block] @ b).tocoo()
        row = co.row.astype(np.int32) + np.int32(start)
        upper = co.col > row
        # The product is canonical (rows, then columns, in order): so are these pieces.
        parts_a.append(row[upper])
        parts_b.append(co.col[upper].astype(np.int32))
        parts_s.append(co.data[upper].astype(np.int32))
        del co, row, upper
    empty = np.zeros(0, np.int32)
    return SharedPairs(
        np.concatenate(parts_a) if parts_a else empty,
        np.concatenate(parts_b) if parts_b else empty,
        np.concatenate(parts_s) if parts_s else empty,
    )


def top_similar(
    audience: Audience, *, top: int, block: int = 1024, pairs: SharedPairs | None = None
) -> pa.Table:
    """The ``top`` most-shared channels of every channel (SIMILAR_SCHEMA), ``block``
    channels at a time so memory stays bounded by one block of rows: from ``pairs`` (the
    counts the graph build already made, see :func:`shared_pairs`) when given, else from
    ``Bᵀ·B`` computed here."""
    viewers = audience.viewers()
    if pairs is not None:
        full = pairs.symmetric(audience.n)

        def rows_of(start: int) -> sp.coo_matrix:
            return full[start : start + block].tocoo()
    else:
        b = audience.matrix.astype(bool).astype(np.int32)
        bt = b.T.tocsr()

        def rows_of(start: int) -> sp.coo_matrix:
            return (bt[start : start + block] @ b).tocoo()

    names = np.asarray(audience.channel.cast(pa.string()).to_pylist(), dtype=object).astype(str)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for start in range(0, audience.n, block):
        co = rows_of(start)
        r = co.row.astype(np.int64) + start
        off = co.col != r  # not the channel itself
        r, c, s = r[off], co.col[off].astype(np.int64), co.data[off].astype(np.int64)
        # rank within each row: by shared descending, ties by the other's name
        order = np.lexsort((names[c], -s, r))
        r, c, s = r[order], c[order], s[order]
        first = np.searchsorted(r, r, side="left")
        keep = np.arange(len(r)) - first < top
        rows.append(r[keep])
        cols.append(c[keep])
        counts.append(s[keep])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    s = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    return _pairs_table(r, c, s, viewers, audience.platform, audience.channel, audience.users)


def top_from_edges(
    src: np.ndarray,
    dst: np.ndarray,
    shared: np.ndarray,
    viewers: np.ndarray,
    platform: pa.Array,
    channel: pa.Array,
    *,
    users: int,
    top: int,
) -> pa.Table:
    """Like :func:`top_similar`, from an edge list (each pair once) instead of ``B``."""
    names = np.asarray(channel.cast(pa.string()).to_pylist(), dtype=object).astype(str)
    r = np.concatenate([src, dst]).astype(np.int64)
    c = np.concatenate([dst, src]).astype(np.int64)
    s = np.concatenate([shared, shared]).astype(np.int64)
    order = np.lexsort((names[c], -s, r))
    r, c, s = r[order], c[order], s[order]
    keep = np.arange(len(r)) - np.searchsorted(r, r, side="left") < top
    return _pairs_table(r[keep], c[keep], s[keep], viewers, platform, channel, users)


def _pairs_table(
    r: np.ndarray,
    c: np.ndarray,
    s: np.ndarray,
    viewers: np.ndarray,
    platform: pa.Array,
    channel: pa.Array,
    users: int,
) -> pa.Table:
    soc, soo, lift = _measures(s, viewers[r], viewers[c], users)
    ri, ci = pa.array(r, pa.int64()), pa.array(c, pa.int64())
    return pa.table(
        {
            "platform": platform.take(ri).cast(pa.string()),
            "channel": channel.take(ri).cast(pa.string()),
            "other_platform": platform.take(ci).cast(pa.string()),
            "other": channel.take(ci).cast(pa.string()),
            "shared": pa.array(s, pa.int64()),
            "share_of_channel": pa.array(soc, pa.float64()),
            "share_of_other": pa.array(soo, pa.float64()),
            "lift": pa.array(lift, pa.float64()),
        },
        schema=SIMILAR_SCHEMA,
    )


@dataclass(frozen=True)
class Comparison:
    """Several channels side by side: every pair's overlap, and the UpSet table."""

    pairs: pa.Table  # a, b, shared, share_of_a, share_of_b, lift
    subsets: pa.Table  # subset, channels, viewers, share_of_union (exclusive intersections)


def compare(audience: Audience, columns: list[int], labels: list[str]) -> Comparison:
    """Pairwise overlaps of ``columns`` and the viewers exclusive to each subset of them.

    A viewer counts in exactly one subset: the set of the compared channels they watched
    (UpSet's "distinct" intersections), so the subset rows add up to the union.
    """
    k = len(columns)
    if not 2 <= k <= MAX_COMPARED:
        raise AnalysisError(f"compare: give 2 to {MAX_COMPARED} channels, got {k}")
    if len(set(columns)) != k:
        raise AnalysisError("compare: the same channel was given twice")
    m = audience.matrix
    bit_of = np.zeros(audience.n, dtype=np.int64)
    bit_of[columns] = 1 << np.arange(k, dtype=np.int64)
    picked = bit_of[m.indices] > 0
    rows = _entry_rows(m, picked)
    mask = np.bincount(rows, weights=bit_of[m.indices[picked]], minlength=m.shape[0])
    mask = mask.astype(np.int64)
    per_subset = np.bincount(mask, minlength=1 << k)
    per_subset[0] = 0
    union = int(per_subset.sum())
    bits = 1 << np.arange(k, dtype=np.int64)
    subsets = np.arange(1 << k, dtype=np.int64)
    contains = (subsets[:, None] & bits[None, :]) > 0  # subset × channel
    viewers = contains.T.astype(np.int64) @ per_subset
    pair_a, pair_b, pair_s = [], [], []
    for i in range(k):
        for j in range(i + 1, k):
            pair_a.append(i)
            pair_b.append(j)
            pair_s.append(int(per_subset[contains[:, i] & contains[:, j]].sum()))
    a, b = np.array(pair_a), np.array(pair_b)
    shared = np.array(pair_s, dtype=np.int64)
    soa, sob, lift = _measures(shared, viewers[a], viewers[b], audience.users)
    pairs = pa.table(
        {
            "a": [labels[i] for i in pair_a],
            "b": [labels[j] for j in pair_b],
            "shared": pa.array(shared, pa.int64()),
            "share_of_a": pa.array(soa, pa.float64()),
            "share_of_b": pa.array(sob, pa.float64()),
            "lift": pa.array(lift, pa.float64()),
        }
    )
    nonempty = np.flatnonzero(per_subset)
    degree = contains[nonempty].sum(axis=1)
    order = nonempty[np.lexsort((nonempty, -per_subset[nonempty], degree))]
    subsets_table = pa.table(
        {
            "subset": [" & ".join(labels[i] for i in np.flatnonzero(contains[s])) for s in order],
            "channels": pa.array(contains[order].sum(axis=1), pa.int32()),
            "viewers": pa.array(per_subset[order], pa.int64()),
            "share_of_union": pa.array(per_subset[order] / max(union, 1), pa.float64()),
        }
    )
    return Comparison(pairs=pairs, subsets=subsets_table)


def audience_of(inc: Incidence, removed: np.ndarray) -> Audience:
    """The window's audience from its incidence, without the users ``removed`` as bots."""
    return Audience(
        matrix=inc.matrix[~removed],
        platform=inc.channel_platform,
        channel=inc.channels,
        users=int((~removed).sum()),
    )
