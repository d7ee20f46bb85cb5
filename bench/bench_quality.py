"""How well the default preset recovers planted communities, across kinds of data.

Runs the real ``analyze`` (default preset) on:
- ``vieweratlas.synth`` data at several mixing levels, a sparse variant and an extreme
  popularity tail;
- the independent channel-driven block model of ``tests/analysis/test_recovery.py``
  (imported from CSV, like a user's file), at several mixing levels and sparsities.
Prints NMI against the planted partition, how many channels made it onto the map, and the
shared-viewer threshold the edge budget chose. Usage: ``uv run python bench/bench_quality.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analysis"))  # the independent generator

from test_recovery import World, make_world  # noqa: E402

from vieweratlas.analysis.quality import nmi  # noqa: E402
from vieweratlas.config import load_settings  # noqa: E402
from vieweratlas.ingest import import_channels, import_presence  # noqa: E402
from vieweratlas.lake import Lake  # noqa: E402
from vieweratlas.pipeline import analyze, planted_nmi, write_synthetic  # noqa: E402
from vieweratlas.synth import SynthSpec, generate  # noqa: E402


@dataclass(frozen=True)
class Row:
    name: str
    channels: int
    shown: int
    threshold: int
    nmi: float
    seconds: float


def run_synth(name: str, spec: SynthSpec, folder: Path) -> Row:
    lake = Lake.open(str(folder / "lake"))
    write_synthetic(lake, generate(spec))
    return _analyze(name, spec.channels, lake, folder, nmi_of=None)


def run_world(name: str, world: World, folder: Path) -> Row:
    truth, _bots = make_world(world, folder)
    lake = Lake.open(str(folder / "lake"))
    # The snapshot time only matters for the file written without a ts column.
    import_presence(lake, [folder / "presence.csv"], snapshot_time=T0)
    import_channels(lake, [folder / "channels.csv"], snapshot_time=T0)
    return _analyze(name, world.channels, lake, folder, nmi_of=truth)


def _analyze(
    name: str, channels: int, lake: Lake, folder: Path, nmi_of: dict[str, int] | None
) -> Row:
    started = time.perf_counter()
    result = analyze(lake, load_settings(environ={}), folder / "out")
    seconds = time.perf_counter() - started
    if nmi_of is None:  # synth: the lake holds the planted truth
        score = planted_nmi(lake, result.nodes)
        assert score is not None
    else:
        nodes = result.nodes.to_pylist()
        score = nmi([nmi_of[n["channel"]] for n in nodes], [n["community"] for n in nodes])
    counts = result.summary["counts"]
    return Row(name, channels, counts["channels"], counts["overlap_threshold_used"], score, seconds)


T0 = datetime(2026, 1, 1, tzinfo=UTC)

SYNTH = [
    (f"synth, mixing {m}", SynthSpec(channels=1000, viewers=100_000, communities=12,
                                     mixing=m, seed=3))
    for m in (0.1, 0.25, 0.4)
] + [
    ("synth, sparse (2 visits per viewer)",
     SynthSpec(channels=2000, viewers=60_000, communities=40, mixing=0.3, seed=7,
               visits_mean=2.0, lurker_bots=60)),
    ("synth, extreme popularity tail",
     SynthSpec(channels=3000, viewers=100_000, communities=20, mixing=0.3, seed=8,
               popularity_alpha=0.8)),
]  # fmt: skip
WORLDS = [
    ("block model, mixing 0.15", World(300, 6, 0.15, audience=60, lurkers=10, seed=1)),
    ("block model, mixing 0.3", World(400, 12, 0.3, audience=80, lurkers=40, seed=2)),
    ("block model, mixing 0.3, 1,200 ch", World(1200, 25, 0.3, audience=120, lurkers=80, seed=3)),
    ("block model, mixing 0.4, 1,200 ch", World(1200, 25, 0.4, audience=120, lurkers=80, seed=3)),
    ("block model, 3 big, mixing 0.45",
     World(200, 3, 0.45, audience=200, lurkers=0, seed=4, visits=3)),
    ("block model, one snapshot",
     World(300, 8, 0.25, audience=70, lurkers=20, seed=5, snapshot=True)),
]  # fmt: skip


def main() -> None:
    rows: list[Row] = []
    for name, spec in SYNTH:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run_synth(name, spec, Path(tmp)))
            print(f"  {rows[-1]}", file=sys.stderr)
    for name, world in WORLDS:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run_world(name, world, Path(tmp)))
            print(f"  {rows[-1]}", file=sys.stderr)
    print("| data | channels | on the map | threshold used | NMI | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r.name, f"{r.channels:,}", f"{r.shown:,}", str(r.threshold), f"{r.nmi:.3f}"]
        print("| " + " | ".join([*cells, f"{r.seconds:.1f}"]) + " |")


if __name__ == "__main__":
    main()
