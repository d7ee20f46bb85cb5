"""The order and de-duplication of one data file (lake/order.py) against brute force.

Rows come from a small generator owned here (repeated keys with differing messages,
sources and ids); the expected output is computed row by row in Python. Hash collisions
are forced by replacing the string hash with a weak one, so the exact-order repair runs.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from vieweratlas.lake import PRESENCE
from vieweratlas.lake import order as order_module
from vieweratlas.lake.order import sort_unique, string_hash
from vieweratlas.lake.schema import TS

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _rows(seed: int, n: int) -> pa.Table:
    rnd = random.Random(seed)
    users = [f"u{rnd.randrange(10**6)}" for _ in range(n // 3 + 1)]
    channels = [f"c{i}" for i in range(7)]
    recs = [
        (
            T0 + timedelta(minutes=10 * rnd.randrange(4)),
            rnd.choice(channels),
            rnd.choice(users),
            rnd.choice([None, "1", "2"]),
            rnd.choice(["irc", "import"]),
            rnd.randrange(3),
        )
        for _ in range(n)
    ]
    cols = list(zip(*recs, strict=True))
    return pa.table(
        {
            "ts": pa.array(cols[0], TS),
            "channel": pa.array(cols[1]),
            "user": pa.array(cols[2]),
            "user_id": pa.array(cols[3], pa.string()),
            "source": pa.array(cols[4]),
            "messages": pa.array(cols[5], pa.int32()),
        }
    )


def _brute_force(table: pa.Table) -> set[tuple[object, ...]]:
    """One row per (ts, channel, user): most messages, then source, then user_id (None
    first) — the rule the lake documents."""
    best: dict[tuple[object, ...], tuple[object, ...]] = {}
    for r in table.to_pylist():
        key = (r["ts"], r["channel"], r["user"])
        rank = (-r["messages"], r["source"], r["user_id"] is not None, r["user_id"] or "")
        row = (*key, r["user_id"], r["source"], r["messages"])
        if key not in best or rank < best[key][0]:  # type: ignore[operator]
            best[key] = (rank, row)
    return {v[1] for v in best.values()}  # type: ignore[misc]


def _check(out: pa.Table, table: pa.Table) -> None:
    got = {
        (r["ts"], r["channel"], r["user"], r["user_id"], r["source"], r["messages"])
        for r in out.to_pylist()
    }
    assert out.num_rows == len(got)
    assert got == _brute_force(table)
    # One run per viewer, and within it channels then times in order.
    users = out.column("user").to_pylist()
    runs = [u for i, u in enumerate(users) if i == 0 or users[i - 1] != u]
    assert len(runs) == len(set(users))
    cols = (users, out.column("channel").to_pylist(), out.column("ts").to_pylist())
    for a, b in itertools.pairwise(list(zip(*cols, strict=True))):
        if a[0] == b[0]:
            assert (a[1], a[2]) < (b[1], b[2])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sorted_unique_and_independent_of_input_order(seed: int) -> None:
    table = _rows(seed, 3000)
    out = sort_unique(PRESENCE, table)
    assert out is not None
    _check(out, table)
    shuffled = table.take(pa.array(np.random.default_rng(seed).permutation(table.num_rows)))
    again = sort_unique(PRESENCE, shuffled)
    assert again is not None and again.equals(out)  # same rows, same file


@pytest.mark.parametrize("weak", ["truncated", "full"])
def test_hash_collisions_keep_exact_order(weak: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hash that maps many names to a few values: the repair puts each viewer's rows
    together again, and duplicates are still found."""

    def few_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        h = string_hash(column)
        # ``truncated``: collisions in the packed key only; ``full``: equal 64-bit hashes.
        out: np.ndarray = h % np.uint64(3) if weak == "full" else h & np.uint64(0xFFFF)
        return out

    monkeypatch.setattr(order_module, "string_hash", few_values)
    table = _rows(7, 2000)
    out = sort_unique(PRESENCE, table)
    assert out is not None
    _check(out, table)
    shuffled = table.take(pa.array(np.random.default_rng(1).permutation(table.num_rows)))
    again = sort_unique(PRESENCE, shuffled)
    assert again is not None and again.equals(out)


def test_string_hash_matches_its_definition() -> None:
    """The hash is part of the file format (it orders rows): pinned to its definition."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z = (z + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    def reference(value: str | None) -> int:
        data = (value or "").encode()
        h = mix((len(data) * 0x9E3779B97F4A7C15) & mask)
        for k in range(0, len(data), 8):
            h = mix(h ^ int.from_bytes(data[k : k + 8], "little"))
        return h

    values = ["", "a", "ab", "12345678", "viewer123", None, "ü" * 40, "x" * 701]
    assert [int(h) for h in string_hash(pa.array(values))] == [reference(v) for v in values]
    sliced = pa.chunked_array([pa.array(["zz", "a"]).slice(1), pa.array(["ab"])])
    assert [int(h) for h in string_hash(sliced)] == [reference(v) for v in ["a", "ab"]]
