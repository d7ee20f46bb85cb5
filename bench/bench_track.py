"""``track`` over a week of daily windows, first run against incremental re-runs; and the
latency of ``similar`` (one column of ``Bᵀ·B``) against the full product.

    uv run python bench/bench_track.py [--channels 5000] [--viewers 600000] [--days 7]
                                       [--similar-channels 100000] [--quick]
                                       [--only track|similar] [--keep DIR]

Track: a week of daily presence with planted community events (the tests' own generator,
``tests/analysis/planted_events.py``: communities of 25 channels, one splitting, two merging,
one dying, one born, three channels migrating), ``--viewers`` viewers a day visiting three
channels each, written to a fresh local lake. Then, each in this process:

* **first run**: ``track --every 1d`` analyses every window;
* **re-run**: the same command again — every window is reused from the lake;
* **next day**: one more day of data arrives, and ``track`` runs again (the daily schedule):
  one window is analysed, the others reused.

Similar: ``--similar-channels`` channels and ten viewers per channel visiting four channels
each (heavy-tailed channel sizes), in memory: one column of ``Bᵀ·B`` (the ``similar``
computation) against the full ``Bᵀ·B`` (SciPy), and ``similar`` end to end from a lake
(read → aggregate → bots → column).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

from planted_events import EventsSpec, generate  # noqa: E402

from vieweratlas.analysis.similar import Audience, similar_to  # noqa: E402
from vieweratlas.config import load_settings  # noqa: E402
from vieweratlas.lake import Lake  # noqa: E402
from vieweratlas.pipeline.similar import similar_channels  # noqa: E402
from vieweratlas.pipeline.track import track_communities  # noqa: E402


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_track(channels: int, viewers: int, days: int, work: Path) -> list[tuple[str, float, str]]:
    per = 25
    communities = max(channels // per, 6)
    spec = EventsSpec(
        communities=communities, channels=per, viewers=viewers // communities, visits=3,
        days=days + 1, snapshots=3, seed=1,
    )  # fmt: skip
    (week, t_gen) = timed(generate, spec)
    lake = Lake.open(str(work / "lake"))
    last_day = week.days[-1]
    cut = pc.strptime(pa.scalar(last_day), "%Y-%m-%d", "us").cast(week.presence["ts"].type)
    first_days = week.presence.filter(pc.less(week.presence["ts"], cut))
    _, t_write = timed(lake.write, "presence", first_days)
    rows = first_days.num_rows
    settings = load_settings(overrides={"lake": str(work / "lake")}, environ={})
    now = datetime.now(UTC)
    first, t_first = timed(track_communities, lake, settings, work / "out1", now=now)
    again, t_again = timed(track_communities, lake, settings, work / "out2", now=now)
    _, _t_write2 = timed(
        lake.write, "presence", week.presence.filter(pc.greater_equal(week.presence["ts"], cut))
    )
    nxt, t_next = timed(track_communities, lake, settings, work / "out3", now=now)
    fresh = sum(not w.reused for w in nxt.windows)
    ev = first.summary["events"]
    print(f"\ngenerated {rows:,} presence rows over {days} days in {t_gen:.1f} s, "
          f"written in {t_write:.1f} s; {first.summary['lineages']} lineages, "
          f"events {ev}")  # fmt: skip
    return [
        ("first run (every window analysed)", t_first, f"{days} windows"),
        (
            "re-run, nothing new (every window reused)",
            t_again,
            f"{sum(w.reused for w in again.windows)} reused",
        ),
        (
            "next day (one new window)",
            t_next,
            f"{fresh} analysed, {len(nxt.windows) - fresh} reused",
        ),
    ]


def synthetic_audience(channels: int, seed: int = 0) -> tuple[Audience, pa.Table]:
    rng = np.random.default_rng(seed)
    users = 10 * channels
    # heavy-tailed channel popularity, four channels per viewer
    weights = 1.0 / np.arange(1, channels + 1) ** 0.8
    weights /= weights.sum()
    cols = rng.choice(channels, size=(users, 4), p=weights)
    rows = np.repeat(np.arange(users), 4)
    m = sp.csr_matrix((np.ones(rows.size, np.int32), (rows, cols.ravel())), shape=(users, channels))
    m.sum_duplicates()
    m.data[:] = 1
    names = pa.array([f"ch{i:06d}" for i in range(channels)])
    audience = Audience(m, pa.repeat(pa.scalar("twitch"), channels), names, users)
    coo = m.tocoo()
    presence = pa.table(
        {
            "ts": pa.array(
                np.full(coo.nnz, int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1e6)),
                pa.timestamp("us", tz="UTC"),
            ),
            "platform": pa.repeat(pa.scalar("twitch"), coo.nnz),
            "channel": names.take(pa.array(coo.col)),
            "user": pa.array(np.char.add("u", coo.row.astype(str))),
            "user_id": pa.nulls(coo.nnz, pa.string()),
            "source": pa.repeat(pa.scalar("import"), coo.nnz),
            "messages": pa.array(np.zeros(coo.nnz, np.int32)),
        }
    )
    return audience, presence


def bench_similar(channels: int, work: Path) -> list[tuple[str, float, str]]:
    audience, presence = synthetic_audience(channels)
    column = int(np.argmax(audience.viewers()))  # the biggest channel: the slowest column
    _, t_col = timed(similar_to, audience, column, top=20)
    b = audience.matrix.astype(bool).astype(np.int32)
    _, t_full = timed(lambda: b.T.tocsr() @ b)
    lake = Lake.open(str(work / "simlake"))
    lake.write("presence", presence)
    settings = load_settings(overrides={"lake": str(work / "simlake")}, environ={})
    cpu = time.process_time()
    result, t_e2e = timed(similar_channels, lake, settings, [f"ch{column:06d}"], top=20)
    cpu = time.process_time() - cpu
    nnz = audience.matrix.nnz
    return [
        (
            f"similar: one column of BᵀB ({channels:,} channels, {nnz:,} viewer-channel pairs)",
            t_col,
            "biggest channel",
        ),
        ("full BᵀB (SciPy), the baseline", t_full, f"{t_full / t_col:,.0f}× the column"),
        (
            "similar end to end from the lake (read, aggregate, bots, column)",
            t_e2e,
            f"{result.users:,} viewers; CPU time of the process {cpu:.2f} s",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--channels", type=int, default=5000)
    ap.add_argument("--viewers", type=int, default=600_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--similar-channels", type=int, default=100_000)
    ap.add_argument(
        "--quick", action="store_true", help="1,000 channels, 100k viewers, 20k for similar"
    )
    ap.add_argument("--keep", type=Path, help="keep the lakes in this folder")
    ap.add_argument("--only", choices=("track", "similar"), help="run one half")
    args = ap.parse_args()
    if args.quick:
        args.channels, args.viewers, args.similar_channels = 1000, 100_000, 20_000
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-track-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        if args.only != "similar":
            rows += bench_track(args.channels, args.viewers, args.days, work)
        if args.only != "track":
            rows += bench_similar(args.similar_channels, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbench_track.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; track: {args.channels:,} channels, "
          f"{args.viewers:,} viewers a day, {args.days} daily windows\n")  # fmt: skip
    print("| measurement | seconds | note |")
    print("|---|---:|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.2f} | {note} |")


if __name__ == "__main__":
    main()
