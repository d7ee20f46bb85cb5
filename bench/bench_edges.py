"""Edge selection (``select_edges``) against the pair counting before it, and against the
code of an older revision on the same pairs.

    uv run python bench/bench_edges.py [--channels N --viewers N] [--before REV] [--repeat R]

``vieweratlas.synth`` draws a world of ``--channels`` / ``--viewers`` (the model of
``bench_scale.py``'s analyze section: 3.5 channels and 4 snapshots a visit per viewer);
channels with fewer than 10 viewers are left out, as the default preset does. The pairs
are counted once with ``shared_pairs`` (``Bᵀ·B`` block by block, the floor: selection
cannot start before the counts exist) and then chosen with the default preset's options
(``neighbours``: the 30 strongest ties per channel among those beyond chance, excess
weight) and a few others. ``--before REV``: the same calls with ``analysis/overlap.py``
and ``analysis/backbone.py`` as they were at git revision ``REV`` (loaded from ``git
show``), with the check that both choose identical edges (same order, dtypes, bits).
Each time is the best CPU time (``time.process_time``: the machine is shared) of
``--repeat`` calls. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from vieweratlas.analysis import overlap as current
from vieweratlas.analysis.similar import shared_pairs
from vieweratlas.synth import SynthSpec, generate_stream

CASES: dict[str, dict[str, Any]] = {
    "neighbours (default)": {"weight": "excess", "neighbours": 30, "neighbour_alpha": 0.1},
    "neighbours, cosine, k=10": {"weight": "cosine", "neighbours": 10, "neighbour_alpha": 0.1},
    "budget (20 per channel)": {"weight": "excess", "max_edges_per_channel": 20},
}


def counted(channels: int, viewers: int) -> tuple[dict[str, Any], float]:
    """The pairs of a synthetic world and the seconds ``shared_pairs`` took."""
    spec = SynthSpec(
        channels=channels,
        viewers=viewers,
        communities=max(8, channels // 500),
        windows=144,
        visits_mean=3.5,
        repeat_mean=4.0,
        seed=1,
    )
    world = generate_stream(spec)
    ones = np.ones(len(world.pair_viewer), np.int32)
    m = sp.csr_matrix((ones, (world.pair_viewer, world.pair_channel)), (viewers, channels))
    del world, ones
    sizes = np.bincount(m.indices, minlength=channels)
    m = m[:, np.flatnonzero(sizes >= 10)].tocsr()
    start = time.process_time()
    pairs = shared_pairs(m)
    seconds = time.process_time() - start
    return {
        "a": pairs.a,
        "b": pairs.b,
        "shared": pairs.shared,
        "viewers": np.bincount(m.indices, minlength=m.shape[1]).astype(np.int64),
        "users": int((np.diff(m.indptr) > 0).sum()),
    }, seconds


def before(rev: str, folder: Path) -> ModuleType:
    """``analysis/overlap.py`` at ``rev``, importing ``analysis/backbone.py`` at ``rev``."""
    root = Path(__file__).resolve().parent.parent
    for name in ("backbone", "overlap"):
        text = subprocess.run(
            ["git", "show", f"{rev}:src/vieweratlas/analysis/{name}.py"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        text = text.replace("vieweratlas.analysis.backbone", "before_backbone")
        (folder / f"before_{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    importlib.import_module("before_backbone")
    return importlib.import_module("before_overlap")


def options(case: dict[str, Any], channels: int) -> dict[str, Any]:
    out = {"threshold": 1, "weight": case["weight"]}
    if "neighbours" in case:
        out |= {"neighbours": case["neighbours"], "neighbour_alpha": case["neighbour_alpha"]}
    else:
        out["max_edges"] = case["max_edges_per_channel"] * channels
    return out


def timed(module: ModuleType, data: dict[str, Any], opts: dict[str, Any], repeat: int) -> Any:
    """Best CPU seconds of ``repeat`` calls (the machine is shared: CPU time is steadier
    than wall time), and the edges."""
    best, found = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        found = module.select_edges(
            data["a"],
            data["b"],
            data["shared"],
            data["viewers"],
            users=data["users"],
            pairs=len(data["a"]),
            **opts,
        )
        best = min(best, time.process_time() - start)
    return best, found


def identical(x: Any, y: Any) -> bool:
    return all(
        np.array_equal(getattr(x, f), getattr(y, f)) and getattr(x, f).dtype == getattr(y, f).dtype
        for f in ("src", "dst", "shared", "weight")
    ) and (x.threshold, x.pairs_with_any_overlap) == (y.threshold, y.pairs_with_any_overlap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=5_000)
    parser.add_argument("--viewers", type=int, default=300_000)
    parser.add_argument("--before", help="git revision to compare with (e.g. integ)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    data, counting = counted(args.channels, args.viewers)
    n = len(data["viewers"])
    print(
        f"{n:,} channels, {data['users']:,} viewers, {len(data['a']):,} pairs sharing a "
        f"viewer; shared_pairs (Bᵀ·B) {counting:.2f} CPU s\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        old = before(args.before, Path(tmp)) if args.before else None
        head = "| selection | edges | now CPU s | now / Bᵀ·B |"
        rule = "|---|---:|---:|---:|"
        if old:
            head += f" {args.before} CPU s | {args.before} / now | identical |"
            rule += "---:|---:|---|"
        print(head + "\n" + rule)
        for name, case in CASES.items():
            opts = options(case, n)
            now, found = timed(current, data, opts, args.repeat)
            row = f"| {name} | {len(found.src):,} | {now:.2f} | {now / counting:.2f} |"
            if old:
                then, found_then = timed(old, data, opts, args.repeat)
                same = "yes" if identical(found, found_then) else "NO"
                row += f" {then:.2f} | {then / now:.1f}× | {same} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
