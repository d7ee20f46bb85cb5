"""The lake on a local folder against the lake on S3 (moto's server on loopback), same data.

    uv run python bench/bench_lake_s3.py [--rows 1000000] [--days 3]

For each backend: write ``--rows`` presence rows spread over ``--days`` days (one PUT per
partition on S3), re-write the same rows (the idempotent no-op path: it reads the existing
partitions to de-duplicate), read the whole table back, and run one DuckDB aggregate over
it. moto keeps objects in memory in a Python process, so the S3 column is a correctness
path and an upper bound on client overhead, not a forecast of AWS throughput.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TS


def presence(rows: int, days: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    windows = days * 288
    ts_idx = rng.integers(0, windows, rows)
    ts = [start + timedelta(minutes=5 * int(i)) for i in np.unique(ts_idx)]
    lookup = dict(zip(np.unique(ts_idx).tolist(), ts, strict=True))
    table = pa.table(
        {
            "ts": pa.array([lookup[int(i)] for i in ts_idx], TS),
            "channel": pa.array([f"ch{int(c)}" for c in rng.integers(0, 500, rows)]),
            "user": pa.array([f"u{int(u)}" for u in rng.integers(0, rows // 4 + 1, rows)]),
            "user_id": pa.nulls(rows, pa.string()),
            "source": pa.array(["irc"] * rows),
            "messages": pa.array(rng.integers(0, 3, rows).astype("int32")),
            "platform": pa.array(["twitch"] * rows),
        }
    )
    return table


def timed(fn: object) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - t, out


def run(lake: Lake, table: pa.Table) -> dict[str, float]:
    t_write, res = timed(lambda: lake.write("presence", table))
    t_again, again = timed(lambda: lake.write("presence", table))
    assert again.rows_written == 0  # type: ignore[attr-defined]
    t_read, back = timed(lambda: lake.read("presence"))
    assert back.num_rows == res.rows_written  # type: ignore[attr-defined]
    t_sql, _ = timed(
        lambda: lake.sql("SELECT channel, count(DISTINCT user) FROM presence GROUP BY 1")
    )
    return {
        "write": t_write,
        "rewrite (no-op)": t_again,
        "read all": t_read,
        "sql aggregate": t_sql,
        "rows": float(res.rows_written),  # type: ignore[attr-defined]
        "files": float(len(res.files)),  # type: ignore[attr-defined]
    }


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    table = presence(args.rows, args.days)
    proc, endpoint = start_moto()
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory() as tmp:
            local = run(Lake.open(str(Path(tmp) / "lake")), table)
        s3 = run(Lake.open(f"s3://{bucket}/lake"), table)
    finally:
        proc.terminate()
        proc.wait()
    rows, files = int(local["rows"]), int(local["files"])
    print(f"\n{rows:,} presence rows over {args.days} days ({files} partition files)\n")
    print("| step | local folder (s) | S3 on moto (s) | ratio |")
    print("|---|---:|---:|---:|")
    for key in ("write", "rewrite (no-op)", "read all", "sql aggregate"):
        print(f"| {key} | {local[key]:.2f} | {s3[key]:.2f} | {s3[key] / local[key]:.1f}x |")


if __name__ == "__main__":
    main()
