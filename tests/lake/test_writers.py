"""Names that cannot collide, and two writers at once: every key exactly once, nothing lost.

Each test runs on a local folder and on S3 (moto on loopback), see ``conftest.lake_url``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from lakedata import T0, presence

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.lake import Lake

KEY = ["ts", "platform", "channel", "user"]


def keys(lake: Lake) -> list[tuple[object, ...]]:
    table = lake.read("presence", columns=KEY)
    return sorted(zip(*(table.column(k).to_pylist() for k in KEY), strict=True))


def _old_style_hash(rows: list[tuple[object, str, str]]) -> int:
    """The name the previous writer gave a file: XOR of DuckDB's 64-bit hash of each key."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("t", presence(rows).select(["ts", "channel", "user"]))
    (value,) = con.execute('SELECT bit_xor(hash(ts, channel, "user")) FROM t').fetchone()  # type: ignore[misc]
    return int(value) & (2**64 - 1)


def _row_hashes(rows: list[tuple[object, str, str]]) -> list[int]:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("t", presence(rows).select(["ts", "channel", "user"]))
    out = con.execute('SELECT hash(ts, channel, "user") FROM t').fetchall()
    return [int(v) & (2**64 - 1) for (v,) in out]


def _subset_with_xor(values: list[int], target: int) -> list[int]:
    """Indices of values whose XOR is ``target`` (Gaussian elimination over GF(2))."""
    basis: dict[int, tuple[int, int]] = {}  # top bit -> (vector, mask of indices)
    for i, v in enumerate(values):
        mask = 1 << i
        while v:
            top = v.bit_length() - 1
            if top not in basis:
                basis[top] = (v, mask)
                break
            bv, bm = basis[top]
            v, mask = v ^ bv, mask ^ bm
    want, chosen = target, 0
    while want:
        top = want.bit_length() - 1
        bv, bm = basis[top]  # KeyError would mean: not in the span (never with 200 rows)
        want, chosen = want ^ bv, chosen ^ bm
    return [i for i in range(len(values)) if chosen >> i & 1]


def test_crafted_rows_cannot_replace_or_hide_earlier_rows(lake: Lake) -> None:
    victim = [(T0, "alpha", f"victim{i}") for i in range(5)]
    lake.write("presence", presence(victim))
    # Crafted rows (same window) whose old-style file name equals the victim's.
    candidates = [(T0, "alpha", f"crafted{i}") for i in range(200)]
    pick = _subset_with_xor(_row_hashes(candidates), _old_style_hash(victim))
    crafted = [candidates[i] for i in pick]
    assert crafted and _old_style_hash(crafted) == _old_style_hash(victim)  # they would collide
    result = lake.write("presence", presence(crafted))
    assert result.rows_written == len(crafted)
    users = {k[3] for k in keys(lake)}
    assert users == {u for _, _, u in victim} | {u for _, _, u in crafted}
    assert len(set(result.files)) == 1 and len(lake.list_files("curated/presence")) == 2


def test_same_name_other_content_is_published_apart(lake: Lake) -> None:
    """Even a file already sitting under the digest name of new content (damaged, or
    planted) is never taken as "identical": the new rows are published under another name."""
    first = lake.write("presence", presence([(T0, "alpha", "ann")]))
    (rel,) = first.files
    lake.delete(rel)
    lake.write_bytes(rel, b"not the same bytes")  # what was there is no longer what it says
    again = lake.write("presence", presence([(T0, "alpha", "ann")]))
    assert again.rows_written == 1 and again.files != first.files
    assert lake.read_bytes(rel) == b"not the same bytes"  # never replaced either
    lake.delete(rel)
    assert [k[3] for k in keys(lake)] == ["ann"]


WRITER = r"""
import sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
import pyarrow as pa
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TS
lake_url, tag, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
t0 = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
lake = Lake.open(lake_url)
while not go.exists():
    time.sleep(0.001)  # start line: both writers begin together
for w in range(6):  # six windows, like a collector flushing
    users = [f"shared{i}" for i in range(300)] + [f"{tag}{i}" for i in range(200)]
    n = len(users)
    lake.write("presence", pa.table({
        "ts": pa.array([t0 + timedelta(minutes=10 * w)] * n, TS),
        "channel": ["alpha" if i % 2 else "beta" for i in range(n)],
        "user": users,
        "user_id": pa.nulls(n, pa.string()),
        "source": [tag] * n,
        "messages": pa.array([w % 3] * n, pa.int32()),
        "platform": ["twitch"] * n,
    }))
print("done", flush=True)
"""


def test_two_writers_at_once_lose_nothing_and_duplicate_nothing(
    lake_url: str, tmp_path: Path
) -> None:
    lake = Lake.open(lake_url)
    earlier = [(T0 - timedelta(hours=2), "alpha", f"early{i}") for i in range(50)]
    lake.write("presence", presence(earlier))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, lake_url, tag, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for tag in ("a", "b")
    ]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    got = keys(lake)
    assert len(got) == len(set(got))  # every key exactly once
    users = {k[3] for k in got}
    assert {u for _, _, u in earlier} <= users
    expected = 50 + 6 * (300 + 200 + 200)
    assert len(got) == expected
    # The analysis sees the same: its aggregate counts each (user, channel) once per window.
    table = lake.read("presence", columns=["ts", "channel", "user"], dictionary=("channel", "user"))
    inc = aggregate(table)
    assert inc.presence_rows == expected
    assert int(inc.matrix.sum()) == expected
    # SQL too.
    (row,) = lake.sql(
        "SELECT count(*) AS n, count(DISTINCT (ts, channel, user)) AS k FROM presence"
    ).to_pylist()
    assert row == {"n": expected, "k": expected}


def test_restarted_collector_window_is_skipped_by_digest(lake: Lake) -> None:
    rows = [(T0, "alpha", f"u{i}") for i in range(100)]
    first = lake.write("presence", presence(rows))
    again = lake.write("presence", presence(list(reversed(rows))))  # same rows, other order
    assert (again.rows_written, again.files) == (0, ())
    assert lake.list_files("curated/presence") == list(first.files)
    assert isinstance(lake.read("presence"), pa.Table)
