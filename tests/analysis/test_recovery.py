"""Acceptance: planted communities are recovered from data this project did not generate.

The generator here is deliberately unlike ``vieweratlas.synth``: audiences are drawn per
channel (a bipartite block model with log-normal audience sizes and uniform viewer picks),
bots have other names and habits, timestamps are epoch seconds or ISO text in CSV files,
and everything goes through the CLI: ``import presence`` + ``import channels`` + ``analyze``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.quality import nmi
from vieweratlas.cli import main
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake

KNOWN_BOTS = ("nightbot", "streamelements", "moobot", "commanderroot", "anotherttvviewer")
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class World:
    channels: int
    communities: int
    mixing: float
    audience: float  # median unique viewers per channel
    lurkers: int
    seed: int
    visits: float = 0.67  # mean channels per viewer (most chatters are seen in one channel)
    snapshot: bool = False  # one snapshot: the presence file has no ts column


def make_world(world: World, folder: Path) -> tuple[dict[str, int], list[str]]:
    rng = np.random.default_rng(world.seed)
    sizes = rng.integers(1, 4, world.communities).astype(float)
    community = rng.choice(world.communities, world.channels, p=sizes / sizes.sum())
    names = [f"stream{rng.integers(1e6):06d}x{i}" for i in range(world.channels)]
    pool_size = int(world.channels * world.audience / (world.communities * world.visits))
    n_viewers = pool_size * world.communities
    audience = np.maximum(8, rng.lognormal(np.log(world.audience), 0.8, world.channels)).astype(int)
    rows: list[tuple[object, str, str]] = []
    for c in range(world.channels):
        k = audience[c]
        outside = rng.random(k) < world.mixing
        home = community[c] * pool_size + rng.integers(0, pool_size, k)
        anywhere = rng.integers(0, n_viewers, k)
        viewers = np.unique(np.where(outside, anywhere, home))
        for v in viewers.tolist():
            for w in np.unique(rng.integers(0, 12, rng.integers(1, 4))).tolist():
                ts: object = (
                    T0 + 600 * w if v % 2 else f"2026-01-01T{w // 6:02d}:{(w % 6) * 10:02d}:00Z"
                )
                rows.append((ts, names[c], f"Viewer{v}"))
    bots = list(KNOWN_BOTS) + [f"ghost_watcher_{i}" for i in range(world.lurkers)]
    for b in bots:
        share = rng.uniform(0.3, 0.95)
        for c in np.flatnonzero(rng.random(world.channels) < share).tolist():
            for w in range(0, 12, 2):
                rows.append((T0 + 600 * w, names[c], b))
    rng.shuffle(rows)  # type: ignore[arg-type]
    with (folder / "presence.csv").open("w", newline="") as f:
        out = csv.writer(f)
        if world.snapshot:
            out.writerow(["channel", "user"])
            out.writerows(sorted({(c, u) for _, c, u in rows}))
        else:
            out.writerow(["ts", "channel", "user"])
            out.writerows(rows)
    games = ["Chess", "Art", "Rust", "Slots", "Minecraft", "VALORANT", "Music", "Retro"]
    langs = ["en", "es", "de", "fr", "pt", "ja"]
    with (folder / "channels.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["channel", "game", "language", "viewers", "title"])
        for c in range(world.channels):
            g = games[community[c] % len(games)]
            out.writerow([names[c], g, langs[community[c] % len(langs)], audience[c], f"{g} <3"])
    return dict(zip(names, community.tolist(), strict=True)), bots


def run_world(world: World, tmp_path: Path) -> None:
    truth, bots = make_world(world, tmp_path)
    lake = tmp_path / "lake"
    out = tmp_path / "out"
    for argv in (
        ["import", "presence", str(tmp_path / "presence.csv"), "--lake", str(lake),
         "--snapshot-time", "2026-01-01T00:00:00Z"],
        ["import", "channels", str(tmp_path / "channels.csv"), "--lake", str(lake),
         "--snapshot-time", "2026-01-01T00:00:00Z"],
        ["analyze", "--lake", str(lake), "--out", str(out)],
    ):  # fmt: skip
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code in (0, None), argv

    nodes = pacsv.read_csv(out / "nodes.csv").to_pylist()
    found = np.array([n["community"] for n in nodes])
    planted = np.array([truth[n["channel"]] for n in nodes])
    assert nmi(planted, found) >= 0.95
    assert len(nodes) >= 0.9 * world.channels  # almost every channel is on the map
    assert (found >= 0).mean() >= 0.98

    # Every bot is listed in the run's bots.csv, with its reason.
    listed = {r["user"]: r["reason"] for r in pacsv.read_csv(out / "bots.csv").to_pylist()}
    assert set(bots) <= set(listed)
    assert listed["nightbot"] == "blocklist"

    # No known or behaving-like-a-bot account stays among the viewers of the graph.
    settings = load_settings(environ={})
    inc = aggregate(Lake.open(str(lake)).read("presence", columns=["ts", "channel", "user"]))
    report = detect_bots(inc, settings.analysis.bots)
    removed = {u for u, r in zip(inc.users.to_pylist(), report.removed, strict=True) if r}
    assert set(bots) <= removed
    assert len(removed - set(bots)) <= 0.001 * len(inc.users)  # humans are kept


@pytest.mark.parametrize(
    "world",
    [
        World(channels=300, communities=6, mixing=0.15, audience=60, lurkers=10, seed=1),
        World(channels=400, communities=12, mixing=0.3, audience=80, lurkers=40, seed=2),
        World(
            channels=300, communities=8, mixing=0.25, audience=70, lurkers=20, seed=5, snapshot=True
        ),
    ],
    ids=["low-mixing", "mid-mixing", "one-snapshot"],
)
def test_planted_partition_is_recovered(world: World, tmp_path: Path) -> None:
    run_world(world, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "world",
    [
        World(channels=1200, communities=25, mixing=0.3, audience=120, lurkers=80, seed=3),
        World(channels=200, communities=3, mixing=0.45, audience=200, lurkers=0, seed=4, visits=3),
    ],
    ids=["large-high-mixing", "few-big-communities"],
)
def test_planted_partition_is_recovered_at_scale(world: World, tmp_path: Path) -> None:
    run_world(world, tmp_path)
