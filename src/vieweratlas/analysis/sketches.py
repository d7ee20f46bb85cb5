"""Approximate audiences: one KMV / theta sketch of the viewer set per channel.

Each viewer ``(platform, user)`` gets a 64-bit hash; a channel's sketch keeps the ``k``
smallest hashes of its viewers (*k minimum values*, Bar-Yossef, Jayram, Kumar, Sivakumar
and Trevisan, RANDOM 2002; Beyer et al., SIGMOD 2007). Read as a theta sketch (Dasgupta,
Lang, Rhodes and Thaler, "A framework for estimating stream expression cardinalities",
ICDT 2016, the design of Apache DataSketches):

* a sketch holding fewer than ``k`` hashes is exact (``theta = 1``);
* otherwise ``theta`` is its ``k``-th smallest hash (as a fraction of 2^64) and the samples
  are the ``k - 1`` hashes below it; distinct viewers ≈ ``(k - 1) / theta``;
* shared viewers of channels ``a`` and ``b`` ≈ ``|S_a ∩ S_b| / min(theta_a, theta_b)``
  (a hash in both sample sets is below both thetas, so the common samples are exactly the
  theta-intersection's), unbiased, with relative standard error about
  ``1 / sqrt(theta · shared)``; for counts, ``1 / sqrt(k - 2)`` (3 % at ``k = 1024``).

A sketch is a function of the set alone (its ``k`` smallest hashes), so sketches merge
exactly: the sketch of a union is the ``k`` smallest of the concatenated sketches, and a
month is the merge of its days. Everything is columnar (one sort of ``(channel, hash)``),
no per-row Python. Pure: arrays in, arrays and Arrow tables out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from vieweratlas.errors import AnalysisError

log = logging.getLogger(__name__)

DEFAULT_K = 1024
MIN_K = 16
MAX_K = 1 << 20
_TWO64 = float(2**64)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that spreads every input bit."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def hash_strings(values: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """A seeded 64-bit hash of every string (uint64), vectorised over the Arrow buffers.

    Multilinear hashing: ``sum(byte_i · m_i) + len · m_len`` mod 2^64 with odd multipliers
    ``m_i`` drawn from ``seed`` and the position ``i``, then finalised by :func:`_mix`. Any
    byte content (control characters, RTL marks, very long names) is just bytes here.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        indices: np.ndarray = values.indices.to_numpy(zero_copy_only=False)
        on_dictionary: np.ndarray = hash_strings(values.dictionary, seed)
        taken: np.ndarray = on_dictionary[indices]
        return taken
    arr = pc.fill_null(values.cast(pa.large_binary()), b"")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data_buf = arr.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    data = data[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    longest = int(lengths.max()) if len(lengths) else 0
    base = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        mults = _mix(np.arange(longest + 1, dtype=np.uint64) * _GOLDEN + base) | np.uint64(1)
        pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        prod = data.astype(np.uint64) * mults[1:][pos] if len(data) else np.zeros(0, np.uint64)
        cum = np.concatenate([np.zeros(1, np.uint64), np.cumsum(prod, dtype=np.uint64)])
        total = cum[starts + lengths] - cum[starts]  # wraps mod 2^64, as intended
        total += lengths.astype(np.uint64) * mults[0] + base
    return _mix(total)


def hash_viewers(platform: pa.Array | pa.ChunkedArray, user: pa.Array | pa.ChunkedArray,
                 seed: int = 0) -> np.ndarray:  # fmt: skip
    """Hash of each ``(platform, user)``: the same login on two platforms is two viewers."""
    plat = hash_strings(platform, seed ^ 0x5EED)
    return _mix(hash_strings(user, seed) ^ plat)


def _kmv(codes: np.ndarray, hashes: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``indptr`` and the ascending ``k`` smallest distinct hashes of each code ``0..n-1``.

    Channels with many entries are first cut at a hash expected to keep about ``4k`` of
    them, so the sort sees ~``4k`` entries per channel instead of all; a channel left with
    fewer than ``k`` (many repeated rows) is done again from all its entries. Same result.
    """
    rows = np.bincount(codes, minlength=n)
    busy = rows > 4 * k
    if not busy.any():
        return _kmv_sorted(codes, hashes, n, k)
    cut = np.full(n, np.iinfo(np.uint64).max, dtype=np.uint64)
    cut[busy] = np.minimum(4 * k / rows[busy] * _TWO64, _TWO64 - 4096).astype(np.uint64)
    keep = hashes <= cut[codes]
    indptr, kept = _kmv_sorted(codes[keep], hashes[keep], n, k)
    short = busy & (np.diff(indptr) < k)
    if not short.any():
        return indptr, kept
    log.debug("sketches: %d busy channels redone without the cut", int(short.sum()))
    again = keep | short[codes]
    return _kmv_sorted(codes[again], hashes[again], n, k)


def _kmv_sorted(
    codes: np.ndarray, hashes: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    # by hash, then stably by channel: faster than np.lexsort on two keys
    order = np.argsort(hashes)
    order = order[np.argsort(codes[order].astype(np.int32), kind="stable")]
    c, h = codes[order], hashes[order]
    del order
    if len(c):
        new = np.ones(len(c), dtype=bool)
        new[1:] = (c[1:] != c[:-1]) | (h[1:] != h[:-1])
        c, h = c[new], h[new]
    counts = np.bincount(c, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)])[:-1]
    keep = np.arange(len(c)) - first[c] < k
    c, h = c[keep], h[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(c, minlength=n))]).astype(np.int64)
    return indptr, h


def _check_k(k: int) -> None:
    if not MIN_K <= k <= MAX_K:
        raise AnalysisError(f"sketch size {k}: choose between {MIN_K} and {MAX_K}")


@dataclass(frozen=True)
class Sketches:
    """One KMV sketch per channel, CSR-like: channel ``i`` keeps
    ``hashes[indptr[i]:indptr[i+1]]`` (ascending, at most ``k``). ``everyone`` is the sketch
    of all viewers together (for ``N``, the lift's denominator)."""

    k: int
    indptr: np.ndarray
    hashes: np.ndarray
    platform: pa.Array
    channel: pa.Array
    everyone: np.ndarray

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    def theta(self) -> np.ndarray:
        """Per channel: 1.0 when exact, else its k-th smallest hash as a fraction of 2^64."""
        sizes = self.sizes()
        out = np.ones(self.n)
        full = np.flatnonzero(sizes >= self.k)
        out[full] = self.hashes[self.indptr[full + 1] - 1].astype(np.float64) / _TWO64
        return out

    def viewers(self) -> np.ndarray:
        """Distinct viewers per channel: exact below ``k``, else ``(k - 1) / theta``."""
        sizes = self.sizes().astype(np.float64)
        return np.where(sizes >= self.k, (self.k - 1) / self.theta(), sizes)

    def users(self) -> float:
        """Distinct viewers over all channels (from ``everyone``)."""
        if len(self.everyone) < self.k:
            return float(len(self.everyone))
        return (self.k - 1) / (float(self.everyone[self.k - 1]) / _TWO64)

    def codes(self) -> np.ndarray:
        """The channel of every kept hash."""
        return np.repeat(np.arange(self.n), self.sizes())

    def is_sample(self) -> np.ndarray:
        """Per kept hash: below its channel's theta (a full sketch's k-th hash is not)."""
        out = np.ones(len(self.hashes), dtype=bool)
        out[self.indptr[1:][self.sizes() >= self.k] - 1] = False
        return out

    def samples(self) -> sp.csr_matrix:
        """Sample × channel incidence (CSR): each channel's hashes below its theta, one row
        per distinct sampled hash."""
        keep = self.is_sample()
        h, code = self.hashes[keep], self.codes()[keep]
        uniq, row = np.unique(h, return_inverse=True)
        data = np.ones(len(h), dtype=np.int32)
        return sp.csr_matrix((data, (row, code)), shape=(len(uniq), self.n))


def sketch_entries(
    codes: np.ndarray,
    hashes: np.ndarray,
    platform: pa.Array,
    channel: pa.Array,
    *,
    k: int = DEFAULT_K,
) -> Sketches:
    """Sketches from ``(channel code, viewer hash)`` entries (duplicates allowed): channel
    ``i`` is ``(platform[i], channel[i])``."""
    _check_k(k)
    n = len(channel)
    codes = np.asarray(codes, dtype=np.int64)
    hashes = np.asarray(hashes, dtype=np.uint64)
    indptr, kept = _kmv(codes, hashes, n, k)
    return Sketches(k, indptr, kept, platform, channel, _smallest(kept, k))


def _smallest(hashes: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest distinct values (the k smallest overall are each in their own
    channel's k, so the sketch of all viewers comes from the channels' sketches)."""
    m = 16 * k
    if len(hashes) > m:
        head = np.unique(np.partition(hashes, m)[:m])
        if len(head) >= k:
            return head[:k]
    return np.unique(hashes)[:k]


def sketch_incidence(
    matrix: sp.csr_matrix,
    user_platform: pa.Array,
    users: pa.Array,
    platform: pa.Array,
    channel: pa.Array,
    *,
    k: int = DEFAULT_K,
    seed: int = 0,
) -> Sketches:
    """Sketches of a users × channels incidence (row ``u`` is ``(user_platform[u],
    users[u])``; any stored entry means present).

    Sorting the users (not the pairs) by hash suffices: with the rows in hash order, the
    column-major copy lists each channel's viewers in hash order, and its first ``k`` are
    the sketch — one sort of the users and a linear transpose. Users whose hashes collide
    (or a matrix with repeated entries) take the general path, which gives the same result.
    """
    _check_k(k)
    row_hash = hash_viewers(user_platform, users, seed)
    order = np.argsort(row_hash)
    ranked = row_hash[order]
    by_hash = sp.csr_matrix(matrix)[order].tocsc()
    by_hash.sort_indices()
    n = by_hash.shape[1]
    counts = np.diff(by_hash.indptr)
    rank = np.arange(by_hash.nnz) - np.repeat(by_hash.indptr[:-1], counts)
    keep = rank < k
    kept = ranked[by_hash.indices[keep]]
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))]).astype(np.int64)
    code = np.repeat(np.arange(n), np.diff(indptr))
    if np.any((kept[1:] == kept[:-1]) & (code[1:] == code[:-1])):
        log.debug("sketches: colliding hashes or repeated entries, general path")
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        return sketch_entries(matrix.indices, row_hash[rows], platform, channel, k=k)
    return Sketches(k, indptr, kept, platform, channel, _smallest(kept, k))


def _keys(platform: pa.Array, channel: pa.Array) -> pa.Array:
    # platform names are identifiers without "/", so "platform/channel" is unambiguous
    return pc.binary_join_element_wise(platform.cast(pa.string()), channel.cast(pa.string()), "/")


def merge(parts: list[Sketches]) -> Sketches:
    """The sketches of the union of ``parts`` (e.g. days), channel by channel; exactly what
    sketching the concatenated data would give."""
    if not parts:
        raise AnalysisError("merge: no sketches to merge")
    k = parts[0].k
    if any(p.k != k for p in parts):
        raise AnalysisError("merge: sketches of different sizes (--sketch-size) do not merge")
    plats = pa.concat_arrays([p.platform.cast(pa.string()) for p in parts])
    chans = pa.concat_arrays([p.channel.cast(pa.string()) for p in parts])
    encoded = pc.dictionary_encode(_keys(plats, chans))
    code_of = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n = len(encoded.dictionary)
    firsts = np.full(n, -1, dtype=np.int64)
    firsts[code_of[::-1]] = np.arange(len(code_of))[::-1]  # first part naming each channel
    offset = np.cumsum([0] + [p.n for p in parts])
    codes = np.concatenate(
        [code_of[offset[i] + np.repeat(np.arange(p.n), p.sizes())] for i, p in enumerate(parts)]
    )
    hashes = np.concatenate([p.hashes for p in parts])
    take = pa.array(firsts, pa.int64())
    merged = sketch_entries(codes, hashes, plats.take(take), chans.take(take), k=k)
    everyone = _smallest(np.concatenate([p.everyone for p in parts]), k)
    return Sketches(k, merged.indptr, merged.hashes, merged.platform, merged.channel, everyone)


def _measures(
    shared: np.ndarray, n_c: np.ndarray, n_o: np.ndarray, users: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        soc, soo, lift = shared / n_c, shared / n_o, shared * users / (n_c * n_o)
    return (
        np.nan_to_num(soc, nan=0.0, posinf=0.0),
        np.nan_to_num(soo, nan=0.0, posinf=0.0),
        np.nan_to_num(lift, nan=0.0, posinf=0.0),
    )


def _table(
    sk: Sketches, r: np.ndarray, c: np.ndarray, est: np.ndarray, order: np.ndarray
) -> pa.Table:
    """SIMILAR_SCHEMA rows for pairs ``(r, c)`` with estimated shared viewers ``est``."""
    from vieweratlas.analysis.similar import SIMILAR_SCHEMA

    viewers = sk.viewers()
    r, c, est = r[order], c[order], est[order]
    soc, soo, lift = _measures(est, viewers[r], viewers[c], sk.users())
    ri, ci = pa.array(r, pa.int64()), pa.array(c, pa.int64())
    return pa.table(
        {
            "platform": sk.platform.take(ri).cast(pa.string()),
            "channel": sk.channel.take(ri).cast(pa.string()),
            "other_platform": sk.platform.take(ci).cast(pa.string()),
            "other": sk.channel.take(ci).cast(pa.string()),
            "shared": pa.array(np.rint(est), pa.int64()),
            "share_of_channel": pa.array(np.minimum(soc, 1.0), pa.float64()),
            "share_of_other": pa.array(np.minimum(soo, 1.0), pa.float64()),
            "lift": pa.array(lift, pa.float64()),
        },
        schema=SIMILAR_SCHEMA,
    )


def _names(sk: Sketches) -> np.ndarray:
    return np.asarray(sk.channel.cast(pa.string()).to_pylist(), dtype=object).astype(str)


def approx_similar_to(
    sk: Sketches, column: int, *, top: int | None = 20, sort: str = "shared"
) -> pa.Table:
    """Like :func:`vieweratlas.analysis.similar.similar_to`, estimated from the sketches:
    every channel with a sample in common with ``column``, best first."""
    code, is_sample = sk.codes(), sk.is_sample()
    lo, hi = sk.indptr[column], sk.indptr[column + 1]
    mine = sk.hashes[lo:hi][is_sample[lo:hi]]  # ascending
    at = np.minimum(np.searchsorted(mine, sk.hashes), max(len(mine) - 1, 0))
    hit = is_sample & (mine[at] == sk.hashes) if len(mine) else np.zeros(len(code), bool)
    common = np.bincount(code[hit], minlength=sk.n).astype(np.float64)
    common[column] = 0
    others = np.flatnonzero(common)
    theta = sk.theta()
    est = common[others] / np.minimum(theta[column], theta[others])
    viewers = sk.viewers()
    _, _, lift = _measures(est, viewers[column], viewers[others], sk.users())
    names = _names(sk)[others]
    if sort == "lift":
        order = np.lexsort((names, -est, -lift))
    elif sort == "shared":
        order = np.lexsort((names, -lift, -est))
    else:
        raise AnalysisError(f"sort {sort!r}: choose from shared, lift")
    order = order[: top or None]
    return _table(sk, np.full(len(others), column, dtype=np.int64), others, est, order)


def approx_top_similar(sk: Sketches, *, top: int, block: int = 1024) -> pa.Table:
    """Like :func:`vieweratlas.analysis.similar.top_similar` for every channel, from the
    samples' co-occurrence ``Sᵀ·S`` (at most ``k - 1`` rows per channel), ``block`` channels
    at a time."""
    s = sk.samples()
    st = s.T.tocsr()
    theta = sk.theta()
    viewers = sk.viewers()
    names = _names(sk)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, sk.n, block):
        co = (st[start : start + block] @ s).tocoo()
        r = co.row.astype(np.int64) + start
        c = co.col.astype(np.int64)
        off = c != r
        r, c = r[off], c[off]
        est = co.data[off] / np.minimum(theta[r], theta[c])
        # ties as in approx_similar_to: by lift (the smaller other first), then by name
        order = np.lexsort((names[c], viewers[c], -est, r))
        r, c, est = r[order], c[order], est[order]
        keep = np.arange(len(r)) - np.searchsorted(r, r, side="left") < top
        parts.append((r[keep], c[keep], est[keep]))
    r = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    c = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    est = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    return _table(sk, r, c, est, np.arange(len(r)))


def estimate_shared(sk: Sketches, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated shared viewers of each pair ``(a[i], b[i])`` (float64), all pairs at once."""
    s = sk.samples().tocsc()
    common = np.asarray(s[:, a].multiply(s[:, b]).sum(axis=0)).ravel().astype(np.float64)
    theta = sk.theta()
    out: np.ndarray = common / np.minimum(theta[a], theta[b])
    return out
