"""The Twitch interactions data set (Rappaz, McAuley & Aberer): 10-minute steps → presence."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vieweratlas.ingest import DEFAULT_BASE_TIME, detect_format, import_presence
from vieweratlas.lake import Lake

STEP = timedelta(minutes=10)


def test_steps_expand_to_presence_rows(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "100k_a.csv"
    f.write_text(
        "1,33842865744,mithrain,154,156\n"  # two steps: 154, 155
        "1,33846768288,alptv,166,169\n"  # three steps
        "2,33886469056,Mithrain,154,154\n"  # stop == start: still one row
        "3,1,gaules,0,1\n"
    )
    assert detect_format(f) == "interactions"
    result = import_presence(lake, [f])
    got = sorted(
        (r["user"], r["channel"], r["ts"], r["user_id"], r["source"], r["messages"])
        for r in lake.read("presence").to_pylist()
    )
    base = DEFAULT_BASE_TIME
    assert got == sorted(
        [
            ("1", "mithrain", base + 154 * STEP, "1", "import", 0),
            ("1", "mithrain", base + 155 * STEP, "1", "import", 0),
            ("1", "alptv", base + 166 * STEP, "1", "import", 0),
            ("1", "alptv", base + 167 * STEP, "1", "import", 0),
            ("1", "alptv", base + 168 * STEP, "1", "import", 0),
            ("2", "mithrain", base + 154 * STEP, "2", "import", 0),
            ("3", "gaules", base, "3", "import", 0),
        ]
    )
    assert result.rows_in == 7
    assert import_presence(lake, [f]).rows_written == 0


def test_base_time_and_gzip(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "full.csv.gz"
    f.write_bytes(gzip.compress(b"9,1,chan,6,8\n"))
    base = datetime(2020, 5, 1, tzinfo=UTC)
    import_presence(lake, [f], fmt="interactions", base_time=base)
    assert sorted(r["ts"] for r in lake.read("presence").to_pylist()) == [
        base + 6 * STEP,
        base + 7 * STEP,
    ]


def test_a_few_hundred_thousand_rows_expand_exactly(lake: Lake, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 100_000
    users = rng.integers(0, 20_000, n)
    streamers = rng.integers(0, 300, n)
    start = rng.integers(0, 6000, n)
    stop = start + rng.integers(0, 6, n)
    lines = [
        f"{u},{i},s{s},{a},{b}"
        for i, (u, s, a, b) in enumerate(zip(users, streamers, start, stop, strict=True))
    ]
    f = tmp_path / "big.csv"
    f.write_text("\n".join(lines) + "\n")
    keys = {
        (int(u), int(s), int(step))
        for u, s, a, b in zip(users, streamers, start, stop, strict=True)
        for step in range(int(a), max(int(b), int(a) + 1))
    }
    result = import_presence(lake, [f])
    assert result.rows_in == int(np.maximum(stop - start, 1).sum())
    assert result.rows_written == len(keys)
    (count,) = lake.sql("SELECT count(*) AS n FROM presence")["n"].to_pylist()
    assert count == len(keys)


def test_a_copy_with_a_header_line(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "with_header.csv"
    f.write_text("user_id,stream_id,streamer,start,stop\n1,2,chan,0,1\n3,4,chan,1,2\n")
    assert detect_format(f) == "interactions"
    assert import_presence(lake, [f]).rows_written == 2
