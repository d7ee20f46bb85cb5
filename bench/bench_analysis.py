"""The analysis pipeline against the naive design and the bare floor, at several sizes.

    uv run python bench/bench_analysis.py [--sizes S,A,M,L] [--quick] [--keep DIR]

For each size, in a temporary folder: generate Twitch-like presence with planted communities
(``vieweratlas.synth``) and write it to a fresh local lake (the ingest time is reported),
then run the whole ``analyze`` from that lake in a fresh Python process, sampling its RSS
every 5 ms in a background thread and attributing the maximum to the stage running (the
``progress`` callback of ``analyze`` hears each stage as it starts; the kernel's
high-water mark, read at every stage change, catches peaks the sampler misses while a C
routine holds the GIL).

Baselines, measured in the same run on the same data (the viewer × channel matrix after the
same bot removal and channel selection, and the very edge list the pipeline detected
communities on, read back from its ``edges.parquet``):

* **floor**: a plain SciPy ``B.T @ B`` on the binary matrix, plus the faster of a plain
  ``igraph.Graph.community_leiden(objective_function="modularity")`` and a plain
  ``leidenalg.find_partition`` (modularity and RB-configuration) on that edge list. Graph
  construction is timed apart and *not* counted in the floor (so the floor is low).
* **naive**: a Python set of viewers per channel and ``len(a & b)`` for every pair of
  channels (a random sample of pairs is timed and the all-pairs time extrapolated), plus
  python-louvain (``community.best_partition``) on a networkx graph of the same edges; it
  is run where it finishes within ``--louvain-timeout`` and otherwise extrapolated in
  proportion to the edge count from the largest size where it ran.

Sizes: S (1k channels, 200k viewers), A (the acceptance case: 5k channels,
600k viewers, ~7M presence rows), M (5k, 1M), L (20k, 5M, with fewer snapshots, repeat
visits and channels per viewer so the rows fit a shared 2-core / 24 GB machine).
``--quick`` runs S and A only. ``analysis.max_channels`` is raised to the size's channel
count (it is 5,000 by default, so A runs with the default preset unchanged).

The tables are printed as Markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# name: (SynthSpec keyword arguments, note)
SIZES: dict[str, tuple[dict[str, Any], str]] = {
    "S": (dict(channels=1_000, viewers=200_000, communities=20, mixing=0.25, seed=1), ""),
    "A": (
        dict(
            channels=5_000,
            viewers=600_000,
            communities=30,
            mixing=0.25,
            seed=5,
            repeat_mean=3.5,
            visits_mean=3.5,
        ),
        "acceptance case",
    ),
    "M": (dict(channels=5_000, viewers=1_000_000, communities=30, mixing=0.25, seed=2), ""),
    "L": (
        dict(
            channels=20_000,
            viewers=5_000_000,
            communities=60,
            mixing=0.25,
            seed=3,
            windows=12,
            repeat_mean=1.5,
            visits_mean=2.5,
        ),
        "12 snapshots, 1.5 repeat visits and 2.5 channels per viewer on average: fewer rows",
    ),
}
PROPER = ("read", "aggregate", "bots", "overlap", "communities", "labels", "outputs")
PICTURES = ("layout", "render", "copy_to_lake")
MB = 1024 * 1024

INGEST = r"""
import json, resource, sys, time
from vieweratlas.lake import Lake
from vieweratlas.pipeline import write_synthetic
from vieweratlas.synth import SynthSpec, generate
spec, lake_dir = json.loads(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
data = generate(SynthSpec(**spec))
gen = time.perf_counter() - t
rows = data.presence.num_rows
t = time.perf_counter()
written = write_synthetic(Lake.open(lake_dir), data)
ingest = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = {"generate": gen, "ingest": ingest, "rows": rows, "rss": rss, **written}
print("BENCH-RESULT", json.dumps(result))
"""

ANALYZE = r"""
import json, resource, sys, threading, time
from pathlib import Path
import psutil
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline import analyze, planted_nmi
lake_dir, out_dir, max_channels = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = load_settings(overrides={"analysis": {"max_channels": max_channels}})
lake = Lake.open(lake_dir)
proc = psutil.Process()
def hwm():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
state = {"stage": "start", "hwm": hwm()}
peaks = {}
def progress(name):
    now = hwm()
    prev = state["stage"]
    if now > state["hwm"]:  # the high-water mark rose during the stage that just ended
        peaks[prev] = max(peaks.get(prev, 0), now)
    state["stage"], state["hwm"] = name, now
stop = threading.Event()
def sample():
    while not stop.is_set():
        rss, stage = proc.memory_info().rss, state["stage"]
        peaks[stage] = max(peaks.get(stage, 0), rss)
        stop.wait(0.005)
base = proc.memory_info().rss
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
t = time.perf_counter()
result = analyze(lake, settings, Path(out_dir), progress=progress)
wall = time.perf_counter() - t
progress("end")
stop.set()
sampler.join()
peak = hwm()
nmi = planted_nmi(lake, result.nodes)
print("BENCH-RESULT", json.dumps({
    "timings": result.summary["timings"], "counts": result.summary["counts"],
    "structure": result.summary.get("communities_timings", {}),
    "bots": result.summary["bots"]["removed"], "modularity": result.summary["modularity"],
    "wall": wall, "peaks": peaks, "peak": peak, "base_rss": base, "nmi": nmi,
    "files": {p.name: p.stat().st_size for p in Path(out_dir).iterdir() if p.is_file()},
}))
"""

BASELINES = r"""
import json, sys, time
import igraph as ig
import leidenalg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp
from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.overlap import select_channels
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
lake_dir, out_dir, max_channels, reps, pairs = sys.argv[1:6]
reps, pairs = int(reps), int(pairs)
cfg = load_settings(overrides={"analysis": {"max_channels": int(max_channels)}}).analysis
lake = Lake.open(lake_dir)
def best(fn):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t)
    return min(times), r

# Reference, not in the floor: reading the presence columns and a plain SciPy build of B.
out = {}
out["read"], presence = best(lambda: lake.read("presence", columns=["ts", "channel", "user"]))
def plain_b():
    u = pc.dictionary_encode(presence["user"]).combine_chunks()
    c = pc.dictionary_encode(presence["channel"]).combine_chunks()
    ones = np.ones(len(u), dtype=np.int32)
    m = sp.csr_matrix((ones, (u.indices.to_numpy(), c.indices.to_numpy())),
                      shape=(len(u.dictionary), len(c.dictionary)))
    m.data[:] = 1
    return m
out["plain_b"], _ = best(plain_b)
del _
# The same matrix the pipeline multiplies: after bot removal and channel selection.
inc = aggregate(presence)
del presence
human = np.flatnonzero(~detect_bots(inc, cfg.bots).removed)
matrix = inc.matrix[human]
kept = select_channels(matrix, min_viewers=cfg.min_channel_viewers, max_channels=cfg.max_channels)
B = matrix[:, kept]
B.data[:] = 1
B = B.astype(np.int32)
users = inc.users.take(pa.array(human))
del inc, matrix
out.update(users=B.shape[0], channels=B.shape[1], nnz=int(B.nnz))

out["btb"], co = best(lambda: B.T @ B)
out["btb_nnz"] = int(co.nnz)
del co

# The final edge list the pipeline ran detection on (attach_unclustered is off by default).
edges = pq.read_table(f"{out_dir}/edges.parquet")
nodes = pq.read_table(f"{out_dir}/nodes.parquet", columns=["channel"])["channel"]
src = pc.index_in(edges["source"], value_set=nodes).to_numpy()
dst = pc.index_in(edges["target"], value_set=nodes).to_numpy()
w = edges["weight"].to_numpy()
out["edges"], out["nodes"] = len(w), len(nodes)
t = time.perf_counter()
g = ig.Graph(n=len(nodes), edges=np.column_stack([src, dst]), directed=False)
g.es["weight"] = w
out["graph_build"] = time.perf_counter() - t
def modularity(part):
    return g.modularity(part.membership, weights="weight")
for key, fn in {
    "igraph_leiden": lambda: g.community_leiden(objective_function="modularity",
                                                weights="weight"),
    "leidenalg_modularity": lambda: leidenalg.find_partition(
        g, leidenalg.ModularityVertexPartition, weights="weight", seed=cfg.seed),
    "leidenalg_rb": lambda: leidenalg.find_partition(
        g, leidenalg.RBConfigurationVertexPartition, weights="weight",
        resolution_parameter=cfg.resolution, seed=cfg.seed),
}.items():
    out[key], part = best(fn)
    out[key + "_q"] = modularity(part)

# The naive design: a Python set of viewers per channel, pairwise intersections.
t = time.perf_counter()
csc = B.tocsc()
names = users.to_pylist()  # the original kept viewer logins
sets = [{names[u] for u in csc.indices[csc.indptr[c]:csc.indptr[c + 1]].tolist()}
        for c in range(B.shape[1])]
out["naive_sets"] = time.perf_counter() - t
rng = np.random.default_rng(0)
n = B.shape[1]
a = rng.integers(0, n, pairs * 2)
b = rng.integers(0, n, pairs * 2)
ok = a != b
sample = list(zip(a[ok][:pairs].tolist(), b[ok][:pairs].tolist()))
t = time.perf_counter()
for i, j in sample:
    len(sets[i] & sets[j])
per_pair = (time.perf_counter() - t) / len(sample)
out["naive_pairs_sampled"] = len(sample)
out["naive_pairs_total"] = n * (n - 1) // 2
out["naive_pairs"] = per_pair * out["naive_pairs_total"]
print("BENCH-RESULT", json.dumps(out))
"""

LOUVAIN = r"""
import json, sys, time
import community as community_louvain
import networkx as nx
import pyarrow.parquet as pq
out_dir, seed = sys.argv[1], int(sys.argv[2])
e = pq.read_table(f"{out_dir}/edges.parquet", columns=["source", "target", "weight"])
t = time.perf_counter()
g = nx.Graph()
g.add_weighted_edges_from(zip(*(e[c].to_pylist() for c in ("source", "target", "weight"))))
build = time.perf_counter() - t
t = time.perf_counter()
community_louvain.best_partition(g, weight="weight", random_state=seed)
print("BENCH-RESULT", json.dumps({"build": build, "louvain": time.perf_counter() - t}))
"""


def revision() -> str:
    """The commit measured, with ``+dirty`` when src/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=ROOT, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True,
                               text=True, cwd=ROOT, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def log(msg: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", file=sys.stderr, flush=True)


def child(code: str, *args: str, timeout: float | None = None) -> dict[str, Any] | None:
    """Run ``code`` in a fresh interpreter; it prints ``BENCH-RESULT <json>``.

    None when it ran past ``timeout``. A child that dies without a result (a native crash
    in a library, seen once under heavy load) is retried once, and the retry is logged.
    """
    for attempt in (1, 2):
        try:
            proc = subprocess.run(
                [sys.executable, "-X", "faulthandler", "-c", code, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=ROOT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        # Libraries may print (DuckDB's progress bar, without a newline): find the marker.
        if "BENCH-RESULT " in proc.stdout:
            if proc.returncode != 0:
                log(f"child exited {proc.returncode} after its result: {proc.stderr[-300:]!r}")
            line = proc.stdout.rsplit("BENCH-RESULT ", 1)[1].splitlines()[0]
            result: dict[str, Any] = json.loads(line)
            return result
        log(f"child failed ({proc.returncode}), attempt {attempt}:\n{proc.stderr[-3000:]}")
    sys.exit("child failed twice")


def run_size(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    spec, note = SIZES[name]
    lake_dir, out_dir = work / f"lake-{name}", work / f"out-{name}"
    load = os.getloadavg()
    log(f"{name}: generating {spec['channels']:,} channels / {spec['viewers']:,} viewers")
    ingest = child(INGEST, json.dumps(spec), str(lake_dir))
    assert ingest is not None
    log(f"{name}: {ingest['rows']:,} presence rows, ingest {ingest['ingest']:.1f} s; analyze")
    res = child(ANALYZE, str(lake_dir), str(out_dir), str(max(5000, spec["channels"])))
    assert res is not None
    log(f"{name}: analyze {res['wall']:.1f} s, peak {res['peak'] / MB:.0f} MB; baselines")
    reps = 1 if name == "L" else 2
    base = child(BASELINES, str(lake_dir), str(out_dir), str(max(5000, spec["channels"])),
                 str(reps), str(args.pairs))  # fmt: skip
    assert base is not None
    louvain = None
    if res["counts"]["edges"] <= args.louvain_max_edges:
        log(f"{name}: python-louvain on {res['counts']['edges']:,} edges")
        louvain = child(LOUVAIN, str(out_dir), "42", timeout=args.louvain_timeout)
    shutil.rmtree(lake_dir, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"name": name, "spec": spec, "note": note, "ingest": ingest, "analyze": res,
            "base": base, "louvain": louvain, "load": load}  # fmt: skip


def fmt_s(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def report(r: dict[str, Any], louvain_rate: float | None) -> tuple[list[str], dict[str, Any]]:
    """Markdown lines for one size, and the headline numbers."""
    a, b, ing, spec = r["analyze"], r["base"], r["ingest"], r["spec"]
    t, peaks, c = a["timings"], a["peaks"], a["counts"]
    lines = [
        f"#### {r['name']}: {spec['channels']:,} channels, {spec['viewers']:,} viewers, "
        f"{ing['rows']:,} presence rows" + (f" ({r['note']})" if r["note"] else ""),
        "",
        f"Generated in {ing['generate']:.1f} s, written to the lake in {ing['ingest']:.1f} s. "
        f"Graph: {c['channels']:,} channels, {c['edges']:,} edges (of "
        f"{c['channel_pairs_with_any_overlap']:,} pairs sharing any viewer), "
        f"{c['communities']} communities, {a['bots']} bot accounts removed; modularity "
        f"{a['modularity']:.3f}, NMI vs planted {a['nmi']:.3f}. Load average at start "
        f"{r['load'][0]:.2f}.",
        "",
        "| stage | seconds | peak RSS (MB) |",
        "|---|---:|---:|",
    ]
    for stage in (*PROPER, *PICTURES):
        lines.append(f"| {stage} | {fmt_s(t.get(stage, 0.0))} | {peaks.get(stage, 0) / MB:,.0f} |")
        if stage == "communities":  # its parts: consensus, placement, memberships, hierarchy
            for part, seconds in a.get("structure", {}).items():
                lines.append(f"| — {part} | {fmt_s(seconds)} | |")
    proper = sum(t.get(s, 0.0) for s in PROPER)
    pictures = sum(t.get(s, 0.0) for s in PICTURES)
    lines += [
        f"| **analysis proper** (read → outputs) | **{fmt_s(proper)}** | |",
        f"| layout + render + copy (pictures) | {fmt_s(pictures)} | |",
        f"| whole `analyze` (wall, incl. untimed glue) | {fmt_s(a['wall'])} | "
        f"{a['peak'] / MB:,.0f} |",
        "",
    ]
    leiden = min(b["igraph_leiden"], b["leidenalg_modularity"], b["leidenalg_rb"])
    floor = b["btb"] + leiden
    lake_floor = b["read"] + b["plain_b"] + floor
    if r["louvain"]:
        louv, louv_note = r["louvain"]["louvain"], "measured"
    elif louvain_rate is not None:
        louv, louv_note = louvain_rate * c["edges"], "extrapolated ∝ edges"
    else:
        louv, louv_note = float("nan"), "not run"
    naive = b["naive_sets"] + b["naive_pairs"] + louv
    lines += [
        "| baseline (same data, same run) | seconds | modularity |",
        "|---|---:|---:|",
        f"| SciPy `B.T @ B` ({b['users']:,} × {b['channels']:,}, {b['nnz']:,} nonzeros) | "
        f"{fmt_s(b['btb'])} | |",
        f'| igraph `community_leiden(objective_function="modularity")` on the pipeline\'s '
        f"{b['edges']:,} edges | {fmt_s(b['igraph_leiden'])} | {b['igraph_leiden_q']:.3f} |",
        f"| leidenalg `ModularityVertexPartition` | {fmt_s(b['leidenalg_modularity'])} | "
        f"{b['leidenalg_modularity_q']:.3f} |",
        f"| leidenalg `RBConfigurationVertexPartition` | {fmt_s(b['leidenalg_rb'])} | "
        f"{b['leidenalg_rb_q']:.3f} |",
        f"| (the pipeline's own partition) | | {a['modularity']:.3f} |",
        f"| **floor** = `B.T @ B` + fastest Leiden (defined above) | **{fmt_s(floor)}** | |",
        f"| reference: `lake.read` of ts, channel, user | {fmt_s(b['read'])} | |",
        f"| reference: plain B from those rows (dictionary-encode + `csr_matrix`) | "
        f"{fmt_s(b['plain_b'])} | |",
        f"| reference: igraph graph construction (not in the floor) | "
        f"{fmt_s(b['graph_build'])} | |",
        f"| floor from the lake = read + plain B + floor | {fmt_s(lake_floor)} | |",
        f"| naive: a Python set of viewer logins per channel (built) | "
        f"{fmt_s(b['naive_sets'])} | |",
        f"| naive: all {b['naive_pairs_total']:,} pairwise `len(a & b)` (extrapolated from "
        f"{b['naive_pairs_sampled']:,} random pairs) | {fmt_s(b['naive_pairs'])} | |",
        f"| naive: python-louvain `best_partition` on networkx ({louv_note}) | {fmt_s(louv)} | |",
        f"| **naive total** | **{fmt_s(naive)}** | |",
        "",
        f"Analysis proper / floor = **{proper / floor:.1f}×** (/ floor from the lake: "
        f"{proper / lake_floor:.1f}×); naive / analysis proper = **{naive / proper:,.0f}×**; "
        f"peak RSS of the whole `analyze` = **{a['peak'] / MB:,.0f} MB** "
        f"({a['base_rss'] / MB:,.0f} MB after imports).",
        "",
    ]
    head = {"proper": proper, "floor": floor, "lake_floor": lake_floor, "naive": naive,
            "peak_mb": a["peak"] / MB, "nmi": a["nmi"], "rows": ing["rows"],
            "files": a["files"]}  # fmt: skip
    return lines, head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="S,A,M,L", help="comma-separated of S, A, M, L")
    parser.add_argument("--quick", action="store_true", help="only S and A")
    parser.add_argument("--pairs", type=int, default=20_000, help="naive pairs to time")
    parser.add_argument("--louvain-timeout", type=float, default=300.0)
    parser.add_argument("--louvain-max-edges", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="keep the run outputs in this folder")
    args = parser.parse_args()
    names = ["S", "A"] if args.quick else [s.strip().upper() for s in args.sizes.split(",")]
    for name in names:
        if name not in SIZES:
            parser.error(f"unknown size {name!r} (choose from {', '.join(SIZES)})")
    started = time.perf_counter()
    load = os.getloadavg()
    rev = revision()
    results = []
    with tempfile.TemporaryDirectory(prefix="vieweratlas-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            results.append(run_size(name, work, args))
    command = " ".join(["uv run python bench/bench_analysis.py", *sys.argv[1:]])
    print(f"### `{command}`")
    print()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {rev}, {os.cpu_count()} CPUs, load "
        f"average "
        f"{load[0]:.2f} at start and {os.getloadavg()[0]:.2f} at the end (the machine is "
        f"shared), {time.perf_counter() - started:,.0f} s in all. Default preset, "
        "`analysis.max_channels` raised to the channel count."
    )
    print()
    louvain_rate = None
    heads = {}
    for r in results:
        if r["louvain"]:
            louvain_rate = r["louvain"]["louvain"] / max(r["analyze"]["counts"]["edges"], 1)
        lines, heads[r["name"]] = report(r, louvain_rate)
        print("\n".join(lines))
    print("| size | presence rows | analysis proper (s) | floor (s) | proper / floor | "
          "floor from lake (s) | proper / that | naive (s) | naive / proper | "
          "peak RSS (MB) | NMI |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, h in heads.items():
        print(
            f"| {name} | {h['rows']:,} | {fmt_s(h['proper'])} | {fmt_s(h['floor'])} | "
            f"{h['proper'] / h['floor']:.1f}× | {fmt_s(h['lake_floor'])} | "
            f"{h['proper'] / h['lake_floor']:.1f}× | {fmt_s(h['naive'])} | "
            f"{h['naive'] / h['proper']:,.0f}× | {h['peak_mb']:,.0f} | {h['nmi']:.3f} |"
        )
    for name, h in heads.items():
        sizes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(h["files"].items()))
        print(f"\n{name} output files: {sizes}")


if __name__ == "__main__":
    main()
