"""A day of Twitch on one machine: the lake's write path at scale, against its floors.

    uv run python bench/bench_scale.py [--quick] [--sections import,appends,analyze,spark]
        [--rows N] [--windows K] [--window-rows N] [--delta]
        [--channels N --viewers N --snapshots N --visits X --repeat X]
        [--spark-channels N --spark-viewers N --spark-master M] [--keep DIR]

Sections (each a function below):

* :func:`section_import`: one generated Parquet file of ``--rows`` presence rows (a day of
  10-minute windows, rows in arbitrary order, some keys repeated) imported with
  ``vieweratlas import presence``, next to the floor: a plain DuckDB
  ``COPY … TO … (FORMAT parquet, PARTITION_BY (platform, date))`` of the same file. Each
  runs in a fresh process; seconds and the child's peak RSS (``wait4``) are printed with
  the ratio import / COPY.
* :func:`section_appends`: ``--windows`` windows of ``--window-rows`` rows written one at a
  time into one day's partition (what the live collector does): window 1, window 2 and
  window N with N / 2, and the median cost of the first windows (after window 1, which
  pays the imports), the middle and the last ones, wall and CPU, and last / first (flat
  means a write costs what it adds).
  With ``--delta`` the same windows are appended to a Delta table (``deltalake``, when
  installed) for comparison.
* :func:`section_analyze`: ``vieweratlas.synth`` data with planted communities
  (``--channels``, ``--viewers``, ``--snapshots`` a day, ``--visits`` channels and
  ``--repeat`` snapshots per viewer on average; the target is 100,000 channels / 10M
  viewers / ~120M rows) written to a lake, then the whole ``analyze`` (default preset: the
  maps draw 5,000 channels) in a fresh process: seconds and peak RSS per stage (sampled
  every 5 ms, bench_analysis.py's child), NMI against the planted truth, and the size of
  every output file and of the lake's copy of the run.
* :func:`section_spark`: ``build_graph`` with the local engine and with the Spark engine
  (``--spark-master``, default ``local[2]``) on one lake of ``--spark-channels`` /
  ``--spark-viewers``, each in a fresh process: seconds per stage, peak RSS of the process
  and its children (Spark's JVM), and whether the edges are equal.

``--quick``: 2M rows, 20 windows of 100k rows, analyze at 5,000 channels / 300k viewers,
Spark vs local at 500 channels. The full size is 120M rows, 100 windows of 1M rows (about
40 GB of temporary disk and half an hour on a 2-core machine) and analyze at 100,000
channels / 10M viewers (more than the memory of a shared 24 GB machine allows while
generating; see the README's *Performance* for the size measured).
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

import bench_analysis  # the sampling analyze child and its report, shared

MB = 1024 * 1024

GENERATE = r"""
import duckdb, sys
path, rows, channels, viewers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute("SET enable_progress_bar=false")
# Streamed from range() in bounded memory (120M rows in about 1 GB), whatever the size.
con.execute("SET memory_limit='1GB'")
con.execute("SET preserve_insertion_order=false")
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
        "| lake | window 1 s (CPU) | window 2 s (CPU) | window "
        f"{windows} s (CPU) | {windows} / 2 (CPU) | first windows s (CPU) | middle s (CPU) "
        "| last s (CPU) | last / first (CPU) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"| {label} | {s[0]:.3f} ({c[0]:.3f}) | {s[1]:.3f} ({c[1]:.3f}) "
            f"| {s[-1]:.3f} ({c[-1]:.3f}) | {s[-1] / s[1]:.2f}× ({c[-1] / c[1]:.2f}×) "
            f"| {w[0]:.3f} ({u[0]:.3f}) | {w[1]:.3f} ({u[1]:.3f}) "
            f"| {w[2]:.3f} ({u[2]:.3f}) | {w[2] / w[0]:.2f}× ({u[2] / u[0]:.2f}×) | {rss:,.0f} |"
        )
        shutil.rmtree(work / f"appends-{kind}", ignore_errors=True)
    lines += [
        "",
        "Window 1 also pays the first imports; the first / middle / last columns are medians "
        f"of {k} windows. A write costs what it adds when last / first stays near 1×.",
        "",
    ]
    return lines


def _lake(work: Path, name: str, spec: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A fresh lake of ``vieweratlas.synth`` data (planted communities, bots), written by
    bench_analysis's ingest child."""
    lake_dir = work / f"lake-{name}"
    shutil.rmtree(lake_dir, ignore_errors=True)
    ingest = bench_analysis.child(bench_analysis.INGEST, json.dumps(spec), str(lake_dir))
    assert ingest is not None
    return lake_dir, ingest


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def section_analyze(work: Path, args: argparse.Namespace) -> list[str]:
    """`analyze` at scale, per stage with peak RSS: bench_analysis's sampling child, the
    default preset (the maps draw ``analysis.max_channels`` = 5,000 channels)."""
    spec = dict(
        channels=args.channels, viewers=args.viewers, communities=args.communities,
        mixing=0.25, seed=7, windows=args.snapshots, repeat_mean=args.repeat,
        visits_mean=args.visits,
    )  # fmt: skip
    t = time.perf_counter()
    lake_dir, ingest = _lake(work, "analyze", spec)
    out_dir = work / "out-analyze"
    res = bench_analysis.child(bench_analysis.ANALYZE, str(lake_dir), str(out_dir), "5000")
    assert res is not None
    copy = _tree_size(lake_dir / "analysis")
    wall = time.perf_counter() - t
    stamp = (
        f"{args.channels:,} channels, {args.viewers:,} viewers, {ingest['rows']:,} presence "
        f"rows ({args.snapshots} snapshots)"
    )
    lines, _ = bench_analysis.report(
        {"name": "analyze", "spec": spec, "note": "", "ingest": ingest, "analyze": res,
         "base": None, "louvain": None, "load": os.getloadavg()},
        None, baselines=False,
    )  # fmt: skip
    c = res["counts"]
    lines[0] = f"### `analyze` at {stamp}"
    lines += [
        f"Maps draw {c.get('channels_drawn', 0):,} of {c['channels']:,} channels. "
        f"Section wall time (generate + write + analyze): {wall:,.0f} s.",
        "",
        "| output file | MB |",
        "|---|---:|",
        *(f"| {k} | {v / 1e6:,.1f} |" for k, v in sorted(res["files"].items())),
        f"| **lake copy** (`analysis.lake_copy: map`) | **{copy / 1e6:,.1f}** |",
        "",
    ]
    shutil.rmtree(lake_dir, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    return lines


SPARK_VS_LOCAL = r"""
import json, sys, threading, time
import psutil
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline import build_graph
from vieweratlas.timings import Timings
lake_dir, engine, master, parts = sys.argv[1:5]
settings = load_settings(overrides={"analysis": {"spark": {
    "master": master, "shuffle_partitions": int(parts), "driver_memory": "3g"}}})
proc = psutil.Process()
peak = {"rss": 0}
stop = threading.Event()
def sample():  # this process and its children (Spark's JVM)
    while not stop.is_set():
        rss = proc.memory_info().rss
        for c in proc.children(recursive=True):
            try:
                rss += c.memory_info().rss
            except psutil.Error:
                pass
        peak["rss"] = max(peak["rss"], rss)
        stop.wait(0.05)
threading.Thread(target=sample, daemon=True).start()
timings = Timings()
t = time.perf_counter()
g = build_graph(Lake.open(lake_dir), settings, timings=timings, engine=engine)
wall = time.perf_counter() - t
stop.set()
plat, name = g.platform.to_pylist(), g.channel.to_pylist()
edges = sorted(
    [plat[a], name[a], plat[b], name[b], int(s), float(w)]
    for a, b, s, w in zip(g.src.tolist(), g.dst.tolist(), g.shared.tolist(), g.weight.tolist())
)
print("BENCH-RESULT", json.dumps({"wall": wall, "timings": timings.total(), "peak": peak["rss"],
    "edges": edges, "channels": len(name), "pairs": g.stats.pairs_with_any_overlap}))
"""


def section_spark(work: Path, args: argparse.Namespace) -> list[str]:
    """The Spark engine's graph build vs the local engine's on one lake, same settings."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return ["### Spark vs local", "", "(pyspark not installed: `uv sync --extra spark`)", ""]
    if shutil.which("java") is None:
        return ["### Spark vs local", "", "(no `java` on PATH: Spark needs Java 17)", ""]
    spec = dict(
        channels=args.spark_channels, viewers=args.spark_viewers, communities=20,
        mixing=0.25, seed=11, windows=12, repeat_mean=2.0, visits_mean=3.0,
    )  # fmt: skip
    lake_dir, ingest = _lake(work, "spark", spec)
    runs: dict[str, dict[str, Any]] = {}
    for engine in ("local", "spark"):
        res = bench_analysis.child(
            SPARK_VS_LOCAL, str(lake_dir), engine, args.spark_master, str(args.spark_partitions)
        )
        assert res is not None
        runs[engine] = res
    shutil.rmtree(lake_dir, ignore_errors=True)
    loc, spk = runs["local"], runs["spark"]
    same = len(loc["edges"]) == len(spk["edges"]) and all(
        a[:5] == b[:5] and abs(a[5] - b[5]) <= 1e-9 * max(1.0, abs(a[5]))
        for a, b in zip(loc["edges"], spk["edges"], strict=True)
    )
    stages = [s for s in spk["timings"] if s != "total"] + [
        s for s in loc["timings"] if s not in spk["timings"] and s != "total"
    ]
    lines = [
        f"### Graph build, Spark (`{args.spark_master}`, {args.spark_partitions} shuffle "
        f"partitions) vs local: {args.spark_channels:,} channels, {args.spark_viewers:,} "
        f"viewers, {ingest['rows']:,} presence rows",
        "",
        "| stage | local (s) | spark (s) | spark / local |",
        "|---|---:|---:|---:|",
    ]
    for s in stages:
        a, b = loc["timings"].get(s), spk["timings"].get(s)
        ratio = f"{b / a:.1f}×" if a and b else ""
        lines.append(f"| {s} | {'' if a is None else f'{a:.2f}'} | "
                     f"{'' if b is None else f'{b:.2f}'} | {ratio} |")  # fmt: skip
    warm = spk["wall"] - spk["timings"].get("spark_start", 0.0)
    lines += [
        f"| **build_graph (wall)** | **{loc['wall']:.1f}** | **{spk['wall']:.1f}** | "
        f"**{spk['wall'] / loc['wall']:.1f}×** |",
        f"| build_graph without the JVM start | {loc['wall']:.1f} | {warm:.1f} | "
        f"{warm / loc['wall']:.1f}× |",
        f"| peak RSS, process + children (MB) | {loc['peak'] / MB:,.0f} | "
        f"{spk['peak'] / MB:,.0f} | {spk['peak'] / max(loc['peak'], 1):.1f}× |",
        "",
        f"{loc['channels']:,} channels, {len(loc['edges']):,} edges, "
        f"{loc['pairs']:,} pairs sharing a viewer; Spark's edges equal the local engine's "
        f"(names, shared, weight to 1e-9): **{'yes' if same else 'NO'}**.",
        "",
    ]
    return lines


SECTIONS = ("import", "appends", "analyze", "spark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for every section")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument("--rows", type=int, default=120_000_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    parser.add_argument("--delta", action="store_true", help="also append to a Delta table")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--channels", type=int, default=100_000, help="analyze: channels")
    parser.add_argument("--viewers", type=int, default=10_000_000, help="analyze: viewers")
    parser.add_argument("--communities", type=int, default=200, help="analyze: planted")
    parser.add_argument("--snapshots", type=int, default=144, help="analyze: windows a day")
    parser.add_argument("--visits", type=float, default=3.5, help="analyze: channels/viewer")
    parser.add_argument("--repeat", type=float, default=3.5, help="analyze: snapshots/visit")
    parser.add_argument("--spark-channels", type=int, default=3_000)
    parser.add_argument("--spark-viewers", type=int, default=600_000)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-partitions", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.windows, args.window_rows = 2_000_000, 20, 100_000
        args.channels, args.viewers, args.communities = 5_000, 300_000, 30
        args.snapshots, args.visits, args.repeat = 12, 2.5, 1.5
        args.spark_channels, args.spark_viewers = 500, 50_000
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    if args.skip_import:
        sections = [x for x in sections if x != "import"]
    for x in sections:
        if x not in SECTIONS:
            parser.error(f"unknown section {x!r} (choose from {', '.join(SECTIONS)})")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    out: list[str] = [
        f"## bench_scale ({os.cpu_count()} CPUs, load average {load[0]:.1f} at start; "
        f"`{' '.join(['bench/bench_scale.py', *sys.argv[1:]])}`)",
        "",
    ]
    try:
        for x in sections:
            if x == "import":
                out += section_import(work, args.rows)
            elif x == "appends":
                out += section_appends(work, args.windows, args.window_rows, delta=args.delta)
            elif x == "analyze":
                out += section_analyze(work, args)
            else:
                out += section_spark(work, args)
            print("\n".join(out), flush=True, file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    out.append(f"Load average at the end {os.getloadavg()[0]:.1f}.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
