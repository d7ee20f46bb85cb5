"""The Spark engine builds the same channel graph as the local engine from the same lake.

Runs a real Spark in local mode (Java 17 from Debian; skipped locally without Java, a
failure under CI=true).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from testkit import require_program
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline import build_graph

pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def world(platform: str, seed: int, *, channels: int = 40, viewers: int = 3000) -> pa.Table:
    """Four planted groups, heavy-tailed channel sizes, repeat visits over 4 snapshots, one
    lurker bot in every channel, one blocklisted bot, one viewer in many channels at once."""
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.5, channels) + 0.2
    rows: list[tuple[datetime, str, str]] = []
    for v in range(viewers):
        home = v % 4
        members = np.arange(home, channels, 4)
        p = popularity[members] / popularity[members].sum()
        picks = rng.choice(
            members, size=min(len(members), 1 + rng.poisson(1.5)), p=p, replace=False
        )
        if rng.random() < 0.2:  # wanders outside its group
            picks = np.append(picks, rng.integers(channels))
        for c in set(picks.tolist()):
            for w in rng.choice(4, size=1 + rng.integers(3), replace=False):
                rows.append((T0 + timedelta(minutes=10 * int(w)), f"c{c:02d}", f"v{v}"))
    for c in range(channels):
        for w in range(4):
            rows.append((T0 + timedelta(minutes=10 * w), f"c{c:02d}", "lurkbot"))
            rows.append((T0 + timedelta(minutes=10 * w), f"c{c:02d}", "nightbot"))
    ts, channel, user = zip(*rows, strict=True)
    n = len(rows)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "platform": [platform] * n,
            "channel": list(channel),
            "user": list(user),
            "user_id": pa.nulls(n, pa.string()),
            "source": ["import"] * n,
            "messages": pa.array(np.zeros(n, np.int32)),
        }
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    require_program("java")
    lake = Lake.open(str(tmp_path_factory.mktemp("spark") / "lake"))
    lake.write("presence", world("twitch", 1))
    lake.write("presence", world("kick", 2, channels=20, viewers=1000))
    return lake


def edges_of(graph: object) -> dict[tuple[str, str, str, str], tuple[int, float]]:
    g = graph
    plat, name = g.platform.to_pylist(), g.channel.to_pylist()  # type: ignore[attr-defined]
    return {
        (plat[a], name[a], plat[b], name[b]): (int(s), float(w))
        for a, b, s, w in zip(g.src, g.dst, g.shared, g.weight, strict=True)  # type: ignore[attr-defined]
    }


SPARK = {"master": "local[2]", "shuffle_partitions": 2}


@pytest.mark.parametrize(
    "analysis",
    [
        {},  # the default edge rule, both platforms
        {"max_channels": 25, "platforms": ["twitch"], "significance": 0.01, "weight": "cosine"},
    ],
)
def test_spark_edges_equal_local_edges(lake: Lake, analysis: dict[str, object]) -> None:
    settings = load_settings(overrides={"lake": lake.url, "analysis": {**analysis, "spark": SPARK}})
    local = build_graph(lake, settings, engine="local")
    spark = build_graph(lake, settings, engine="spark")
    assert spark.channel.to_pylist() == local.channel.to_pylist()
    assert spark.platform.to_pylist() == local.platform.to_pylist()
    assert spark.viewers.tolist() == local.viewers.tolist()
    ours, theirs = edges_of(spark), edges_of(local)
    assert ours.keys() == theirs.keys()
    assert len(ours) > 20
    for key, (shared, weight) in theirs.items():
        assert ours[key][0] == shared
        assert ours[key][1] == pytest.approx(weight, rel=1e-12, abs=1e-15)
    assert spark.stats.threshold_used == local.stats.threshold_used
    assert spark.stats.pairs_with_any_overlap == local.stats.pairs_with_any_overlap
    assert spark.stats.users_kept == local.stats.users_kept
    assert spark.stats.channels_seen == local.stats.channels_seen
    assert spark.bots.sort_by([("platform", "ascending"), ("user", "ascending")]).to_pylist() == (
        local.bots.select(spark.bots.column_names)
        .sort_by([("platform", "ascending"), ("user", "ascending")])
        .to_pylist()
    )
    assert {"lurkbot", "nightbot"} <= set(spark.bots["user"].to_pylist())


def test_analyze_with_the_spark_engine_from_the_cli(lake: Lake, tmp_path: Path) -> None:
    from testkit import run_cli

    out = tmp_path / "out"
    config = tmp_path / "spark.yaml"
    config.write_text("analysis:\n  spark:\n    master: local[2]\n    shuffle_partitions: 2\n")
    code = run_cli(
        ["analyze", "--lake", lake.url, "--out", str(out), "--engine", "spark", "--no-render",
         "--min-community-size", "2", "--config", str(config)]
    )  # fmt: skip
    assert code == 0
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "spark"
    assert summary["counts"]["communities"] >= 4
    assert "spark_start" in summary["timings"]

    # Each community's (and sub-community's) viewers: exact distinct non-bot viewers of its
    # channels, counted here by brute force from the lake's rows.
    import pyarrow.parquet as pq

    nodes = pq.read_table(out / "nodes.parquet").to_pylist()
    communities = pq.read_table(out / "communities.parquet").to_pylist()
    import pyarrow.csv as pacsv

    removed = {(r["platform"], r["user"]) for r in pacsv.read_csv(out / "bots.csv").to_pylist()}
    seen: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for row in lake.read("presence", columns=["platform", "channel", "user"]).to_pylist():
        if (row["platform"], row["user"]) not in removed:
            seen.setdefault((row["platform"], row["channel"]), set()).add(
                (row["platform"], row["user"])
            )
    members: dict[int, set[tuple[str, str]]] = {}
    for node in nodes:
        key = (node["platform"], node["channel"])
        for group in (node["community"], node["subcommunity"]):
            if group is not None and group >= 0:
                members.setdefault(group, set()).update(seen.get(key, set()))
    checked = 0
    for row in communities:
        if row["community"] in members:
            assert row["viewers"] == len(members[row["community"]]), row["community"]
            checked += 1
    assert checked >= summary["counts"]["communities"]
