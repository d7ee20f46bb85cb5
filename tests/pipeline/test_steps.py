"""The three analysis steps and their seams: build → communities → publish.

Publishing is all-or-nothing; the steps run without rendering; identities are
platform-qualified (the same names on two platforms never meet); runs are listed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline import analyze, build_graph, find_communities, publish
from vieweratlas.runs import RUN_ID_RE, list_runs, open_run

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def two_block_presence(platform: str, rng: np.random.Generator, *, prefix: str = "u") -> pa.Table:
    """Two planted groups of 6 channels; viewers stay in their group. Names are shared
    across calls so two platforms can hold exactly the same channel and user names."""
    ts, channel, user = [], [], []
    for v in range(600):
        group = v % 2
        for c in rng.choice(6, size=3, replace=False):
            for w in range(2):
                ts.append(T0 + timedelta(minutes=10 * w))
                channel.append(f"ch{group}{c}")
                user.append(f"{prefix}{v}")
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "platform": [platform] * len(ts),
            "channel": channel,
            "user": user,
            "user_id": pa.nulls(len(ts), pa.string()),
            "source": ["import"] * len(ts),
            "messages": pa.array([0] * len(ts), pa.int32()),
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", two_block_presence("twitch", np.random.default_rng(1)))
    return lake


def test_build_then_communities_without_rendering(lake: Lake) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    graph = build_graph(lake, s)
    assert graph.n == 12
    assert set(graph.platform.to_pylist()) == {"twitch"}
    tables = find_communities(graph, s.analysis)
    community = dict(
        zip(tables.nodes["channel"].to_pylist(), tables.nodes["community"].to_pylist(), strict=True)
    )
    assert len(set(community.values())) == 2
    for group in "01":
        assert len({community[f"ch{group}{c}"] for c in range(6)}) == 1
    assert tables.nodes["x"].null_count == 0  # positions are NaN until laid out


def test_no_render_writes_tables_only(lake: Lake, tmp_path: Path) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    result = analyze(lake, s, tmp_path / "out", render=False)
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"nodes.csv", "nodes.parquet", "edges.parquet", "communities.csv", "summary.json"} <= (
        names
    )
    assert not names & {"atlas.png", "atlas.html", "graph.gexf"}
    assert "render" not in result.summary["timings"]


def test_a_failing_publish_leaves_nothing_behind(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before_lake = sorted(lake.list_files(""))

    import vieweratlas.render as render

    real = render.write_atlas

    def half_then_fail(folder: Path, *args: object, **kwargs: object) -> dict[str, float]:
        real(folder, *args, **kwargs)  # type: ignore[arg-type]
        raise FileNotFoundError("web asset sigma.min.js is missing")

    monkeypatch.setattr(render, "write_atlas", half_then_fail)
    with pytest.raises(FileNotFoundError):
        analyze(lake, s, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(lake.list_files("")) == before_lake
    assert list_runs(lake) == []


def test_a_failing_lake_copy_leaves_out_and_lake_unchanged(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    before_lake = sorted(lake.list_files(""))
    graph = build_graph(lake, s)
    tables = find_communities(graph, s.analysis)
    real = Lake.write_bytes
    calls = []

    def flaky(self: Lake, rel: str, data: bytes) -> None:
        calls.append(rel)
        if len(calls) == 4:
            raise OSError("bucket went away")
        real(self, rel, data)

    monkeypatch.setattr(Lake, "write_bytes", flaky)
    with pytest.raises(OSError):
        publish(lake, s, graph, tables, tmp_path / "out", render=False)
    monkeypatch.undo()
    assert not (tmp_path / "out").exists()
    assert sorted(lake.list_files("")) == before_lake


def test_same_names_on_two_platforms_are_two_channels_and_never_share_viewers(
    tmp_path: Path,
) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    # Identical channel and user names on both platforms; each platform's viewers only
    # watch that platform. Merged by name, every channel would share every viewer with its
    # namesake.
    lake.write("presence", two_block_presence("twitch", np.random.default_rng(1)))
    lake.write("presence", two_block_presence("kick", np.random.default_rng(2)))
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    graph = build_graph(lake, s)
    assert graph.n == 24
    nodes = list(zip(graph.platform.to_pylist(), graph.channel.to_pylist(), strict=True))
    assert len(set(nodes)) == 24
    assert ("twitch", "ch00") in nodes and ("kick", "ch00") in nodes
    plat = np.array(graph.platform.to_pylist())
    assert (plat[graph.src] == plat[graph.dst]).all()  # no edge across platforms
    assert graph.stats.users_kept == 1200  # 600 per platform: same names, different people
    tables = find_communities(graph, s.analysis)
    assert tables.nodes.column_names[:2] == ["platform", "channel"]
    by_community: dict[int, set[str]] = {}
    for row in tables.nodes.select(["platform", "community"]).to_pylist():
        by_community.setdefault(row["community"], set()).add(row["platform"])
    assert all(len(p) == 1 for p in by_community.values())
    only_kick = load_settings(
        overrides={"lake": lake.url, "analysis": {"platforms": ["kick"], "min_community_size": 2}}
    )
    assert set(build_graph(lake, only_kick).platform.to_pylist()) == {"kick"}


def test_runs_are_listed_with_their_window_and_opened(lake: Lake, tmp_path: Path) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    first = analyze(lake, s, tmp_path / "a", render=False, now=datetime(2026, 3, 2, tzinfo=UTC))
    second = analyze(lake, s, tmp_path / "b", render=False, now=datetime(2026, 3, 3, tzinfo=UTC))
    runs = list_runs(lake)
    assert [r.run_id for r in runs] == [second.run_id, first.run_id]
    assert RUN_ID_RE.fullmatch(first.run_id)
    assert first.run_id.startswith("20260301T0000_20260301T0010_20260302T000000_")
    assert runs[0].window_start == "2026-03-01T00:00:00+00:00"
    assert runs[0].counts["channels"] == 12
    run = open_run(lake)
    assert run.run_id == second.run_id
    assert run.table("nodes").num_rows == 12
    assert run.table("communities").column_names[0] == "community"
    assert open_run(lake, first.run_id).summary["run_id"] == first.run_id


def test_layout_starts_from_the_newest_runs_positions(lake: Lake, tmp_path: Path) -> None:
    base = {"min_community_size": 2}
    fresh = load_settings(
        overrides={"lake": lake.url, "analysis": {**base, "layout_from_previous": False}}
    )
    first = analyze(lake, fresh, tmp_path / "a")
    again = analyze(lake, fresh, tmp_path / "b")  # fresh layouts: same seed, same positions
    for axis in ("x", "y"):
        assert first.nodes[axis].to_pylist() == again.nodes[axis].to_pylist()
    other_seed = load_settings(
        overrides={"lake": lake.url, "analysis": {**base, "layout_from_previous": False,
                                                  "seed": 7}}
    )  # fmt: skip
    moved = analyze(lake, other_seed, tmp_path / "c")
    # The newest run is `moved`; with the first run's seed, a fresh layout would give the
    # first run's positions again, a seeded one starts from `moved`'s.
    seeded = load_settings(overrides={"lake": lake.url, "analysis": base})
    follows = analyze(lake, seeded, tmp_path / "d")

    def xy(result: object) -> np.ndarray:
        nodes = result.nodes  # type: ignore[attr-defined]
        return np.column_stack([nodes["x"].to_numpy(), nodes["y"].to_numpy()])

    near = np.linalg.norm(xy(follows) - xy(moved), axis=1).mean()
    far = np.linalg.norm(xy(first) - xy(moved), axis=1).mean()
    assert near < far


def test_the_lake_keeps_one_compressed_copy_of_each_table(lake: Lake, tmp_path: Path) -> None:
    """--out gets CSV and Parquet; the lake's copy (map, the default) keeps each table once,
    as Parquet, and reads back the same rows as the CSV in --out; `all` keeps everything."""
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    result = analyze(lake, s, tmp_path / "out", render=False)
    out = {p.name for p in (tmp_path / "out").iterdir()}
    run = open_run(lake, result.run_id)
    kept = set(result.summary["files"])
    for name in ("nodes", "edges", "communities"):
        assert {f"{name}.csv", f"{name}.parquet"} <= out
        assert f"{name}.parquet" in kept and f"{name}.csv" not in kept
        assert not run.has(f"{name}.csv")
        from_out = pacsv.read_csv(tmp_path / "out" / f"{name}.csv")
        assert run.table(name).num_rows == from_out.num_rows > 0
    assert "bots.csv" in kept  # no Parquet twin: kept as it is
    s_all = load_settings(
        overrides={"lake": lake.url, "analysis": {"min_community_size": 2, "lake_copy": "all"}}
    )
    everything = analyze(lake, s_all, tmp_path / "out2", render=False)
    assert set(everything.summary["files"]) == {p.name for p in (tmp_path / "out2").iterdir()}


def test_a_run_into_the_same_out_leaves_no_file_of_the_previous_run(
    lake: Lake, tmp_path: Path
) -> None:
    s = load_settings(overrides={"lake": lake.url, "analysis": {"min_community_size": 2}})
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    analyze(lake, s, out)  # with the maps
    assert (out / "atlas.png").exists()
    analyze(lake, s, out, render=False)  # tables only: the old maps must not linger
    names = {p.name for p in out.iterdir()}
    assert not names & {"atlas.png", "atlas.html", "graph.gexf"}
    assert {"nodes.parquet", "summary.json", "notes.txt"} <= names
