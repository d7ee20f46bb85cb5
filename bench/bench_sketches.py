"""Exact ``similar`` against ``similar --approx`` (KMV/theta sketches): time, peak RSS, error.

    uv run python bench/bench_sketches.py [--quick] [--channels N --viewers N --visits X]
        [--sketch-size K] [--top N]

Generated audiences (this script's own generator: Zipf channel popularity, viewers mostly
inside a home group of 50 channels) as the viewer × channel matrix after bots, the input of
both paths. Each step runs in a fresh process (seconds, and the child's peak RSS from its
``VmHWM``, read as the timed part ends; it includes loading the matrix, whose floor is
printed):

* one channel: exact ``similar_to`` (one column of ``Bᵀ·B``) against building the sketches
  plus ``approx_similar_to``;
* every channel's top N: exact ``top_similar`` (blocked ``Bᵀ·B``) against the sketches plus
  ``approx_top_similar``;
* a month from its days: the pairs spread over 30 days, one sketch per day, then
  ``merge``; checked identical to the sketch of the whole.

Error, from the same run: relative error of the estimated ``shared`` on the 50 pairs sharing
the most viewers and on 2,000 random pairs among the exact top-N lists (median / p95), of
the distinct-viewer counts of channels larger than the sketch, and the recall of each
channel's exact top N in its approximate top N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MB = 1024 * 1024


def generate(path: Path, channels: int, viewers: int, visits: float, seed: int = 7) -> int:
    """Users × channels CSR (distinct pairs) saved as ``.npz``; returns the stored entries."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, channels + 1) ** 1.1
    group = 50
    groups = (channels + group - 1) // group
    per_user = rng.poisson(visits - 1, viewers) + 1
    user = np.repeat(np.arange(viewers, dtype=np.int64), per_user)
    home = rng.integers(0, groups, viewers)[user]
    inside = rng.random(len(user)) < 0.8
    # inside the home group: popularity-weighted pick among its channels
    slot = np.minimum(rng.zipf(1.5, len(user)) - 1, group - 1)
    channel = np.minimum(home * group + slot, channels - 1)
    cdf = np.cumsum(popularity) / popularity.sum()
    stray = np.searchsorted(cdf, rng.random(len(user)))
    channel = np.where(inside, channel, np.minimum(stray, channels - 1))
    key = np.unique(user * channels + channel)
    u, c = key // channels, key % channels
    m = sp.csr_matrix((np.ones(len(key), np.int8), (u, c)), shape=(viewers, channels))
    sp.save_npz(path, m, compressed=False)
    return int(m.nnz)


CHILD = r"""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, scipy.sparse as sp
from vieweratlas.analysis.similar import Audience, similar_to, top_similar
from vieweratlas.analysis import sketches as S
step, path, k, top, column, out = sys.argv[1:7]
def hwm():  # this process's peak RSS so far, MB (VmHWM starts afresh at exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
k, top, column = int(k), int(top), int(column)
m = sp.load_npz(path).tocsr()
n = m.shape[1]
platform = pa.repeat(pa.scalar("twitch"), n)
channel = pa.array(np.arange(n)).cast(pa.string())
res = {}
def sketch():
    t = time.perf_counter()
    users = pa.array(np.arange(m.shape[0])).cast(pa.string())
    sk = S.sketch_incidence(m, pa.repeat(pa.scalar("twitch"), m.shape[0]), users, platform,
                            channel, k=k)
    res["sketch_s"] = time.perf_counter() - t
    return sk
t0 = time.perf_counter()
if step == "exact_one":
    table = similar_to(Audience(m, platform, channel, m.shape[0]), column, top=top)
elif step == "approx_one":
    table = S.approx_similar_to(sketch(), column, top=top)
elif step == "exact_all":
    table = top_similar(Audience(m, platform, channel, m.shape[0]), top=top)
elif step == "approx_all":
    sk = sketch()
    table = S.approx_top_similar(sk, top=top)
    res["s"] = time.perf_counter() - t0  # the error below is not part of the time
    res["rss_mb"] = hwm()
    res["sketch_mb"] = (sk.hashes.nbytes + sk.indptr.nbytes) / 2**20
    res["matrix_mb"] = (m.indices.nbytes + m.indptr.nbytes + m.data.nbytes) / 2**20
    ex = pq.read_table(out.replace("approx_all", "exact_all"))
    a = ex["channel"].to_numpy(zero_copy_only=False).astype(np.int64)
    b = ex["other"].to_numpy(zero_copy_only=False).astype(np.int64)
    res["pair_est"] = S.estimate_shared(sk, a, b).tolist()
    viewers = np.bincount(m.indices, minlength=n)
    big = viewers >= k
    res["count_rel"] = (np.abs(sk.viewers()[big] / viewers[big] - 1)).tolist()
elif step == "merge":
    users = pa.array(np.arange(m.shape[0])).cast(pa.string())
    h = S.hash_viewers(pa.repeat(pa.scalar("twitch"), m.shape[0]), users)
    e = h[np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))]
    day = np.random.default_rng(0).integers(0, 30, m.nnz)
    whole = S.sketch_entries(m.indices, e, platform, channel, k=k)
    t0 = time.perf_counter()
    parts = []
    for d in range(30):
        pick = day == d
        parts.append(S.sketch_entries(m.indices[pick], e[pick], platform, channel, k=k))
    res["days_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    merged = S.merge(parts)
    res["s"] = time.perf_counter() - t1
    res["same"] = bool(
        np.array_equal(merged.indptr, whole.indptr) and np.array_equal(merged.hashes, whole.hashes)
        and merged.channel.equals(whole.channel)
    )
    table = None
else:
    table = None
res.setdefault("s", time.perf_counter() - t0)
res.setdefault("rss_mb", hwm())
if table is not None:
    pq.write_table(table, out)
print(json.dumps(res))
"""


def child(
    step: str, data: Path, out: Path, args: argparse.Namespace, column: int
) -> dict[str, Any]:
    argv = [sys.executable, "-c", CHILD, step, str(data), str(args.sketch_size), str(args.top)]
    proc = subprocess.Popen([*argv, str(column), str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    text = proc.stdout.read()
    if proc.wait():
        raise SystemExit(f"child {step} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(text)
    return result


def quantiles(x: np.ndarray) -> str:
    if not len(x):
        return "–"
    return f"{100 * np.median(x):.1f}% / {100 * np.percentile(x, 95):.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--channels", type=int, default=20_000)
    ap.add_argument("--viewers", type=int, default=2_000_000)
    ap.add_argument("--visits", type=float, default=10.0)
    ap.add_argument("--sketch-size", type=int, default=1024)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    if args.quick:
        args.channels, args.viewers = 2_000, 200_000
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-sketches-") as tmp:
        work = Path(tmp)
        data = work / "b.npz"
        t = time.perf_counter()
        nnz = generate(data, args.channels, args.viewers, args.visits)
        print(
            f"generated {args.channels:,} channels × {args.viewers:,} viewers, {nnz:,} "
            f"viewer-channel pairs in {time.perf_counter() - t:.0f} s; k = {args.sketch_size}, "
            f"top {args.top}",
            file=sys.stderr,
        )
        r: dict[str, dict[str, Any]] = {}
        for step in ("load", "exact_one", "approx_one", "exact_all", "approx_all", "merge"):
            print(f"  {step}…", file=sys.stderr)
            r[step] = child(step, data, work / f"{step}.parquet", args, column=0)
        exact = pq.read_table(work / "exact_all.parquet")
        approx = pq.read_table(work / "approx_all.parquet")
    true = exact["shared"].to_numpy().astype(np.float64)
    est = np.asarray(r["approx_all"]["pair_est"])
    a = exact["channel"].to_numpy(zero_copy_only=False)
    b = exact["other"].to_numpy(zero_copy_only=False)
    once = a.astype(np.int64) < b.astype(np.int64)
    order = np.argsort(-true[once], kind="stable")[:50]
    rel = np.abs(est[once] / true[once] - 1)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(true), size=min(2000, len(true)), replace=False)
    rel_all = np.abs(est[sample] / true[sample] - 1)
    exact_top: dict[str, set[str]] = {}
    for ch, ot in zip(a, b, strict=True):
        exact_top.setdefault(ch, set()).add(ot)
    approx_top: dict[str, set[str]] = {}
    for ch, ot in zip(approx["channel"].to_pylist(), approx["other"].to_pylist(), strict=True):
        approx_top.setdefault(ch, set()).add(ot)
    recall = np.array([len(v & approx_top.get(c, set())) / len(v) for c, v in exact_top.items()])

    def row(name: str, e: dict[str, Any], x: dict[str, Any]) -> str:
        return (
            f"| {name} | {e['s']:.2f} s | {x['s']:.2f} s (sketches {x['sketch_s']:.2f} s) "
            f"| {x['s'] / e['s']:.2f}× | {e['rss_mb']:.0f} MB | {x['rss_mb']:.0f} MB "
            f"| {x['rss_mb'] / e['rss_mb']:.2f}× |"
        )

    load = os.getloadavg()[0]
    print(
        f"\n{args.channels:,} channels, {args.viewers:,} viewers, {nnz:,} viewer-channel "
        f"pairs, k = {args.sketch_size}, top {args.top}; loading the matrix alone: "
        f"{r['load']['rss_mb']:.0f} MB peak\n"
    )
    print(
        f"sketches {r['approx_all']['sketch_mb']:.0f} MB for the window against "
        f"{r['approx_all']['matrix_mb']:.0f} MB for its viewer × channel matrix (CSR)\n"
    )
    print("| step | exact | approx | time approx/exact | RSS exact | RSS approx | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("one channel (the largest)", r["exact_one"], r["approx_one"]))
    print(row(f"every channel's top {args.top}", r["exact_all"], r["approx_all"]))
    print("\n| error (approx vs exact) | median / p95 |")
    print("|---|---:|")
    print(f"| `shared`, the 50 pairs sharing the most viewers | {quantiles(rel[order])} |")
    print(
        f"| `shared`, 2,000 random pairs of the exact top-{args.top} lists | {quantiles(rel_all)} |"
    )
    count_rel = np.asarray(r["approx_all"]["count_rel"])
    print(
        f"| viewers per channel, the {len(count_rel):,} channels over k | {quantiles(count_rel)} |"
    )
    print(
        f"| recall of each channel's exact top {args.top} in its approximate top "
        f"{args.top} (mean over channels) | {100 * recall.mean():.1f}% |"
    )
    mg = r["merge"]
    print(
        f"\nA month from its days: 30 daily sketches (each viewer-channel pair on one random "
        f"day) built in {mg['days_s']:.2f} s in all, merged in {mg['s']:.2f} s; the merge "
        f"{'equals' if mg['same'] else 'DIFFERS FROM'} the sketch of the whole window."
    )
    print(f"\nLoad average at the end {load:.1f} (a shared machine: compare the ratios).")


if __name__ == "__main__":
    main()
