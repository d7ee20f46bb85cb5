"""How well the default preset recovers planted structure, across kinds of data.

    uv run python bench/bench_quality.py [--quick]

Runs the real ``analyze`` (default preset, no pictures) from a fresh lake on:

1. **the two-level planted generator** of ``tests/analysis/planted.py`` (independent of
   ``vieweratlas.synth``: communities made of sub-communities, planted bridge channels,
   loyal home viewers and drive-by visitors, up to 100 lurker bots in 30–90 % of all
   channels plus service bots) at 1,500 / 5,000 / 20,000 channels and mixing 0.25 / 0.4.
   Per run: channels that should be placed (≥ 10 human viewers), the share placed, NMI
   against the planted communities *counting every unplaced channel as an error* (each
   its own singleton), sub-community NMI within the planted communities (size-weighted),
   bridge recall (planted bridges listed in ``memberships`` with both their communities)
   and precision (listed bridges that are planted ones), and confidence calibration: how
   often ordinary channels with confidence < 0.8 are misplaced against those ≥ 0.8;
2. **what the options change** at 5,000 channels, mixing 0.4: ``viewer_weight: loyalty``
   against ``presence``, and the old global edge budget against per-channel neighbours;
3. (not with ``--quick``) ``vieweratlas.synth`` data and the block model of
   ``tests/analysis/test_recovery.py`` imported from CSV, with NMI and coverage.

``--quick``: 1,500 channels only, and the option comparisons at 1,500.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analysis"))  # the independent generators

from planted import Planted, generate  # noqa: E402
from scoring import score  # noqa: E402
from test_recovery import World, make_world  # noqa: E402

from vieweratlas.analysis.quality import nmi  # noqa: E402
from vieweratlas.config import load_settings  # noqa: E402
from vieweratlas.ingest import import_channels, import_presence  # noqa: E402
from vieweratlas.lake import Lake  # noqa: E402
from vieweratlas.pipeline import analyze, planted_nmi, write_synthetic  # noqa: E402
from vieweratlas.synth import SynthSpec  # noqa: E402
from vieweratlas.synth import generate as synth_generate  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    name: str
    cells: list[str]
    seconds: float


def planted_row(name: str, spec: Planted, folder: Path, **analysis: Any) -> Row:
    presence, truth = generate(spec)
    lake = Lake.open(str(folder / "lake"))
    lake.write("presence", presence)
    settings = load_settings(environ={}, overrides={"analysis": analysis} if analysis else None)
    started = time.perf_counter()
    result = analyze(lake, settings, folder / "out", render=False)
    seconds = time.perf_counter() - started
    s = score(result.nodes, pacsv.read_csv(folder / "out" / "memberships.csv"), truth)
    expected = int((truth.humans >= settings.analysis.min_channel_viewers).sum())
    cells = [
        f"{spec.channels:,}",
        f"{spec.mixing}",
        f"{expected:,}",
        f"{s.placed:.1%}",
        f"{s.nmi:.3f}",
        f"{s.sub_nmi:.3f}",
        f"{s.bridge_recall:.2f} / {s.bridge_precision:.2f}",
        f"{s.wrong_low:.1%} of {s.low} / {s.wrong_high:.2%}",
        f"{result.summary['counts']['channels_drawn']:,}",
    ]
    return Row(name, cells, seconds)


def synth_row(name: str, spec: SynthSpec, folder: Path) -> Row:
    lake = Lake.open(str(folder / "lake"))
    write_synthetic(lake, synth_generate(spec))
    started = time.perf_counter()
    result = analyze(lake, load_settings(environ={}), folder / "out", render=False)
    seconds = time.perf_counter() - started
    score_ = planted_nmi(lake, result.nodes)
    counts = result.summary["counts"]
    cells = [f"{spec.channels:,}", f"{counts['channels']:,}", f"{score_:.3f}"]
    return Row(name, cells, seconds)


def world_row(name: str, world: World, folder: Path) -> Row:
    truth, _bots = make_world(world, folder)
    lake = Lake.open(str(folder / "lake"))
    import_presence(lake, [folder / "presence.csv"], snapshot_time=T0)
    import_channels(lake, [folder / "channels.csv"], snapshot_time=T0)
    started = time.perf_counter()
    result = analyze(lake, load_settings(environ={}), folder / "out", render=False)
    seconds = time.perf_counter() - started
    nodes = result.nodes.to_pylist()
    found = {n["channel"]: n["community"] for n in nodes}
    names = sorted(truth)
    f = np.array([found.get(c, -1) for c in names])
    missing = f < 0
    f[missing] = 1_000_000 + np.arange(int(missing.sum()))
    score_ = nmi(np.array([truth[c] for c in names]), f)
    cells = [f"{world.channels:,}", f"{len(nodes):,}", f"{score_:.3f}"]
    return Row(name, cells, seconds)


def table(title: str, header: list[str], rows: list[Row]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(["data", *header, "seconds"]) + " |")
    print("|---|" + "---:|" * (len(header) + 1))
    for r in rows:
        print("| " + " | ".join([r.name, *r.cells, f"{r.seconds:.1f}"]) + " |")


def run(fn: Any, *args: Any, **kwargs: Any) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        row: Row = fn(*args, Path(tmp), **kwargs)
    print(f"  {row}", file=sys.stderr, flush=True)
    return row


PLANTED_HEADER = [
    "channels",
    "mixing",
    "to place (≥ 10 viewers)",
    "placed",
    "NMI (unplaced = error)",
    "sub-community NMI",
    "bridges recall / precision",
    "misplaced: confidence < 0.8 / ≥ 0.8",
    "drawn",
]


def planted_spec(channels: int, mixing: float, seed: int) -> Planted:
    return Planted(
        channels=channels,
        communities=max(8, channels // 120),
        mixing=mixing,
        seed=seed,
        focus=0.8,
        lurkers=100,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,500 channels only")
    args = parser.parse_args()
    sizes = (1500,) if args.quick else (1500, 5000, 20000)
    rows = [
        run(planted_row, f"planted, {n:,} ch, mixing {m}", planted_spec(n, m, n + int(m * 100)))
        for n in sizes
        for m in (0.25, 0.4)
    ]
    table("Two-level planted data, default preset", PLANTED_HEADER, rows)

    size = 1500 if args.quick else 5000
    spec = planted_spec(size, 0.4, seed=7)
    options = [
        run(planted_row, "presence (default)", spec),
        run(planted_row, "viewer_weight: loyalty", spec, viewer_weight="loyalty"),
        run(planted_row, "edge_selection: budget (old default)", spec, edge_selection="budget"),
    ]
    table(f"What the options change ({size:,} channels, mixing 0.4)", PLANTED_HEADER, options)
    if args.quick:
        return

    synth = [
        run(synth_row, f"synth, mixing {m}",
            SynthSpec(channels=1000, viewers=100_000, communities=12, mixing=m, seed=3))
        for m in (0.1, 0.25, 0.4)
    ] + [
        run(synth_row, "synth, sparse (2 visits per viewer)",
            SynthSpec(channels=2000, viewers=60_000, communities=40, mixing=0.3, seed=7,
                      visits_mean=2.0, lurker_bots=60)),
        run(synth_row, "synth, extreme popularity tail",
            SynthSpec(channels=3000, viewers=100_000, communities=20, mixing=0.3, seed=8,
                      popularity_alpha=0.8)),
    ]  # fmt: skip
    worlds = [
        run(world_row, "block model, mixing 0.15",
            World(300, 6, 0.15, audience=60, lurkers=10, seed=1)),
        run(world_row, "block model, mixing 0.3",
            World(400, 12, 0.3, audience=80, lurkers=40, seed=2)),
        run(world_row, "block model, mixing 0.4, 1,200 ch",
            World(1200, 25, 0.4, audience=120, lurkers=80, seed=3)),
        run(world_row, "block model, 3 big, mixing 0.45",
            World(200, 3, 0.45, audience=200, lurkers=0, seed=4, visits=3)),
    ]  # fmt: skip
    table("Other generators (synth: NMI of the placed channels)",
          ["channels", "on the map", "NMI"], synth)  # fmt: skip
    table("Block model of test_recovery (NMI: unplaced = error)",
          ["channels", "on the map", "NMI"], worlds)  # fmt: skip


if __name__ == "__main__":
    main()
