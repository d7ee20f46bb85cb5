"""A day of Twitch on one machine: the lake's write path at scale, against its floors.

    uv run python bench/bench_scale.py [--quick] [--rows N] [--windows K] [--window-rows N]
                                       [--delta] [--keep DIR]

Sections (each a function below; others add theirs beside them):

* :func:`section_import`: one generated Parquet file of ``--rows`` presence rows (a day of
  10-minute windows, rows in arbitrary order, some keys repeated) imported with
  ``vieweratlas import presence``, next to the floor: a plain DuckDB
  ``COPY … TO … (FORMAT parquet, PARTITION_BY (platform, date))`` of the same file. Each
  runs in a fresh process; seconds and the child's peak RSS (``wait4``) are printed with
  the ratio import / COPY.
* :func:`section_appends`: ``--windows`` windows of ``--window-rows`` rows written one at a
  time into one day's partition (what the live collector does); the median cost of the
  first windows (after one warm-up window that pays the imports), the middle and the last
  ones, wall and CPU, and last / first (flat means a write costs what it adds).
  With ``--delta`` the same windows are appended to a Delta table (``deltalake``, when
  installed) for comparison.
* :func:`section_analyze`, :func:`section_spark`: the analysis at 100k channels and the
  Spark engine against the local one (placeholders: filled in by their owners).

``--quick``: 2M rows, 20 windows of 100k rows. The full size is 120M rows, 100 windows of
1M rows (about 40 GB of temporary disk and half an hour on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GENERATE = r"""
import duckdb, sys
path, rows, channels, viewers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute("SET enable_progress_bar=false")
con.execute(f'''
COPY (
  SELECT TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_minutes(10 * ((i * 7919) % 144)::INT) AS ts,
         'channel' || (hash(i // 3) % {channels}) AS channel,
         'viewer' || (hash(i * 31 + 7) % {viewers}) AS user,
         (hash(i) % 4)::INTEGER AS messages
  FROM range({rows}) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)''')
"""

IMPORT = r"""
import json, sys, time
from vieweratlas.ingest import import_presence
from vieweratlas.lake import Lake
t = time.perf_counter()
r = import_presence(Lake.open(sys.argv[2]), [sys.argv[1]], fmt="plain")
print(json.dumps({"rows": r.rows_in, "written": r.rows_written, "files": len(r.files),
                  "seconds": time.perf_counter() - t}))
"""

COPY = r"""
import duckdb, json, sys, time
t = time.perf_counter()
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute("SET enable_progress_bar=false")
con.execute(f'''COPY (SELECT *, 'twitch' AS platform, strftime(ts, '%Y-%m-%d') AS date
               FROM read_parquet('{sys.argv[1]}'))
               TO '{sys.argv[2]}' (FORMAT parquet, PARTITION_BY (platform, date))''')
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

APPENDS = r"""
import json, sys, time
from datetime import UTC, datetime, timedelta
import numpy as np
import pyarrow as pa
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TS
lake_url, windows, rows, delta = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(1)
t0 = datetime(2026, 11, 1, tzinfo=UTC)
step = timedelta(seconds=86400 // max(windows, 1))
def window(i):
    users = rng.integers(0, rows * 20, rows)
    return pa.table({
        "ts": pa.array([t0 + i * step] * rows, TS),
        "channel": pa.array(np.char.add("channel", (users % 5000).astype(str))),
        "user": pa.array(np.char.add("viewer", users.astype(str))),
        "user_id": pa.nulls(rows, pa.string()),
        "source": pa.array(["irc"] * rows),
        "messages": pa.array(np.zeros(rows, np.int32)),
        "platform": pa.array(["twitch"] * rows),
    })
out, cpu = [], []
if delta == "delta":
    from deltalake import write_deltalake
    for i in range(windows):
        w = window(i).append_column("date", pa.array(["2026-11-01"] * rows))
        t, c = time.perf_counter(), time.process_time()
        write_deltalake(lake_url, w, mode="append", partition_by=["platform", "date"])
        out.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
else:
    lake = Lake.open(lake_url)
    for i in range(windows):
        w = window(i)
        t, c = time.perf_counter(), time.process_time()
        lake.write("presence", w)
        out.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
print(json.dumps({"seconds": out, "cpus": cpu}))
"""


def run_child(code: str, *args: str) -> tuple[dict[str, Any], float]:
    """Run ``code`` in a fresh Python; its JSON result (plus ``cpu``: the child's user +
    system seconds, all threads) and its own peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {err.decode()[-2000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu"] = usage.ru_utime + usage.ru_stime
    return result, usage.ru_maxrss / 1024


def section_import(work: Path, rows: int) -> list[str]:
    """Import of one big Parquet file next to a plain DuckDB partitioned COPY."""
    src = work / "day.parquet"
    channels, viewers = max(rows // 1200, 10), max(rows // 12, 100)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", GENERATE, str(src), str(rows), str(channels), str(viewers)],
        check=True,
    )
    gen = time.perf_counter() - t
    size = src.stat().st_size / 1e6
    copy, copy_rss = run_child(COPY, str(src), str(work / "copy"))
    shutil.rmtree(work / "copy", ignore_errors=True)
    imp, imp_rss = run_child(IMPORT, str(src), str(work / "lake"))
    shutil.rmtree(work / "lake", ignore_errors=True)
    ratio = imp["seconds"] / copy["seconds"]
    return [
        f"### Import of one file: {rows:,} rows ({size:,.0f} MB Parquet, generated in {gen:.0f} s)",
        "",
        "| what | wall s | CPU s | peak RSS (MB) | rows/s (wall) |",
        "|---|---:|---:|---:|---:|",
        f"| DuckDB `COPY … PARTITION_BY (platform, date)` (floor) | {copy['seconds']:.1f} "
        f"| {copy['cpu']:.1f} | {copy_rss:,.0f} | {rows / copy['seconds']:,.0f} |",
        f"| `vieweratlas import presence` ({imp['written']:,} rows kept, {imp['files']} files) "
        f"| {imp['seconds']:.1f} | {imp['cpu']:.1f} | {imp_rss:,.0f} "
        f"| {rows / imp['seconds']:,.0f} |",
        "",
        f"import / COPY = **{ratio:.2f}×** wall, {imp['cpu'] / copy['cpu']:.2f}× CPU; "
        f"peak RSS of the import **{imp_rss:,.0f} MB**. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} (a shared machine: compare the ratios).",
        "",
    ]


def section_appends(work: Path, windows: int, rows: int, *, delta: bool) -> list[str]:
    """Cost of window 1 vs window K written one at a time into one day."""
    lines = [
        f"### Appends: {windows} windows of {rows:,} rows into one day's partition",
        "",
        "| lake | first windows s (CPU) | middle s (CPU) | last s (CPU) | last / first (CPU) "
        "| peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    kinds = [("vieweratlas lake", "lake")]
    if delta:
        try:
            import deltalake  # noqa: F401
        except ImportError:
            lines.append("| Delta Lake | (deltalake not installed) | | | | |")
        else:
            kinds.append(("Delta Lake (`deltalake`)", "delta"))
    for label, kind in kinds:
        res, rss = run_child(APPENDS, str(work / f"appends-{kind}"), str(windows), str(rows), kind)
        s, c = res["seconds"], res["cpus"]
        k = max(1, min(5, (len(s) - 1) // 3))  # medians of k windows: single writes are noisy
        first, mid, last = (slice(1, 1 + k), slice(len(s) // 2, len(s) // 2 + k), slice(-k, None))
        w = [statistics.median(s[x]) for x in (first, mid, last)]
        u = [statistics.median(c[x]) for x in (first, mid, last)]
        lines.append(
            f"| {label} | {w[0]:.3f} ({u[0]:.3f}) | {w[1]:.3f} ({u[1]:.3f}) "
            f"| {w[2]:.3f} ({u[2]:.3f}) | {w[2] / w[0]:.2f}× ({u[2] / u[0]:.2f}×) | {rss:,.0f} |"
        )
        shutil.rmtree(work / f"appends-{kind}", ignore_errors=True)
    lines.append("")
    return lines


def section_analyze(work: Path, args: argparse.Namespace) -> list[str]:
    """`analyze` at 100k channels, per stage with peak RSS (added by the analysis owners)."""
    return []


def section_spark(work: Path, args: argparse.Namespace) -> list[str]:
    """The Spark engine's graph build vs the local engine's on one lake (added with it)."""
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2M rows, 20 windows of 100k")
    parser.add_argument("--rows", type=int, default=120_000_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    parser.add_argument("--delta", action="store_true", help="also append to a Delta table")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.windows, args.window_rows = 2_000_000, 20, 100_000
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    out: list[str] = [f"## bench_scale ({os.cpu_count()} CPUs)", ""]
    try:
        if not args.skip_import:
            out += section_import(work, args.rows)
            print("\n".join(out), flush=True)
        out += section_appends(work, args.windows, args.window_rows, delta=args.delta)
        out += section_analyze(work, args)
        out += section_spark(work, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(out))


if __name__ == "__main__":
    main()
