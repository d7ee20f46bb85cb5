"""The creator join on a cross-platform world this test generates itself: communities span
Twitch and Kick through creators who stream on both, and only through them; viewers are
never merged across platforms even when their names are the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from vieweratlas.config import load_settings
from vieweratlas.errors import InputError
from vieweratlas.ingest.creators import import_creators
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import PRESENCE, TS
from vieweratlas.pipeline import build_graph, find_communities

K = 4  # communities per platform; the last one has no creator on both platforms
CHANNELS = 6  # per community and platform
VIEWERS = 150  # per community and platform
BOTH = 3  # channels of each community (but the last) whose creator streams on both
T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def world(seed: int) -> tuple[pa.Table, list[tuple[str, str, str]]]:
    """Presence of two platforms with planted communities, and the creator map.

    Kick viewers of community k carry the *names* of Twitch viewers of community k+1: a
    program that merged viewers across platforms by name would join the wrong communities.
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {"channel": [], "user": [], "platform": []}
    for k in range(K):
        for platform, prefix in (("twitch", "tw"), ("kick", "ki")):
            owner = k if platform == "twitch" else (k + 1) % K  # the name trap
            for v in range(VIEWERS):
                user = f"user{owner}x{v}"
                for c in rng.choice(CHANNELS, size=3, replace=False):
                    rows["channel"].append(f"{prefix}{k}c{c}")
                    rows["user"].append(user)
                    rows["platform"].append(platform)
    n = len(rows["user"])
    presence = pa.table(
        {
            "ts": pa.array([T] * n, TS),
            "channel": rows["channel"],
            "user": rows["user"],
            "user_id": pa.nulls(n, pa.string()),
            "source": ["synthetic"] * n,
            "messages": pa.array([1] * n, pa.int32()),
            "platform": rows["platform"],
        }
    ).select([*PRESENCE.schema.names, "platform"])
    creators = []
    for k in range(K - 1):
        for c in range(BOTH):
            name = f"Creator {k}.{c}"
            creators += [(name, "twitch", f"tw{k}c{c}"), (name, "kick", f"ki{k}c{c}")]
    creators.append(("Solo", "twitch", f"tw{K - 1}c0"))  # one channel only: nothing to merge
    return presence, creators


def write_map(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("creator,platform,channel\n" + "".join(f"{c},{p},{ch}\n" for c, p, ch in rows))
    return path


@pytest.mark.parametrize("seed", [1, 2])
def test_communities_span_platforms_only_through_creators(seed: int, tmp_path: Path) -> None:
    presence, creators = world(seed)
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence)
    import_creators(lake, write_map(tmp_path / "creators.csv", creators))
    settings = load_settings(environ={}, overrides={"lake": str(tmp_path / "lake")})
    graph = build_graph(lake, settings)
    # Viewers stay per platform: every (platform, name) is its own viewer.
    assert graph.stats.users == 2 * K * VIEWERS
    nodes = find_communities(graph, settings.analysis).nodes.to_pylist()
    community = {(n["platform"], n["channel"]): n["community"] for n in nodes}
    for k in range(K - 1):
        merged = {("kick+twitch", f"Creator {k}.{c}") for c in range(BOTH)}
        assert merged <= set(community)  # merged nodes, showing both platforms
        members = {("twitch", f"tw{k}c{c}") for c in range(BOTH, CHANNELS)} | {
            ("kick", f"ki{k}c{c}") for c in range(BOTH, CHANNELS)
        }
        home = community[("kick+twitch", f"Creator {k}.0")]
        got = {key for key, com in community.items() if com == home}
        assert got == members | merged
    # No creator joins the last community's platforms: they stay apart.
    last_tw = {community[("twitch", f"tw{K - 1}c{c}")] for c in range(1, CHANNELS)}
    last_ki = {community[("kick", f"ki{K - 1}c{c}")] for c in range(CHANNELS)}
    assert len(last_tw) == 1 and len(last_ki) == 1 and last_tw != last_ki
    assert ("twitch", f"tw{K - 1}c0") in community  # a one-channel creator is not merged
    # Every community with both platforms holds a creator node.
    for com in set(community.values()):
        platforms = {p for (p, _), c in community.items() if c == com}
        if {"twitch", "kick"} <= platforms:
            assert "kick+twitch" in platforms


def test_without_a_creator_map_platforms_never_share_a_community(tmp_path: Path) -> None:
    presence, _ = world(3)
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence)
    settings = load_settings(environ={}, overrides={"lake": str(tmp_path / "lake")})
    nodes = find_communities(build_graph(lake, settings), settings.analysis).nodes.to_pylist()
    by_com: dict[int, set[str]] = {}
    for n in nodes:
        by_com.setdefault(n["community"], set()).add(n["platform"])
    assert all(len(p) == 1 for p in by_com.values())


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([("A", "myspace", "x")], "unknown platform"),
        ([("A", "kick", "Not A Slug!")], "not a kick channel"),
        ([("A", "twitch", "alpha"), ("B", "twitch", "Alpha")], "already belongs"),
        ([("A", "twitch", "alpha"), ("A", "twitch", "beta")], "one channel per platform"),
        ([("", "twitch", "alpha")], "creator must be"),
    ],
)
def test_bad_creator_maps_are_refused_and_nothing_is_written(
    rows: list[tuple[str, str, str]], problem: str, tmp_path: Path
) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    path = write_map(tmp_path / "bad.csv", [("Fine", "twitch", "okay"), *rows])
    with pytest.raises(InputError, match=problem) as err:
        import_creators(lake, path)
    assert "bad.csv:" in str(err.value)
    assert lake.read("creators").num_rows == 0


def test_youtube_ids_keep_their_case_in_the_map(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    uc = "UCAbCdEfGhIjKlMnOpQrStUv"
    import_creators(lake, write_map(tmp_path / "c.csv", [("X", "youtube", uc),
                                                         ("X", "twitch", "Xx")]))  # fmt: skip
    got = {(r["platform"], r["channel"]) for r in lake.read("creators").to_pylist()}
    assert got == {("youtube", uc), ("twitch", "xx")}
    again = import_creators(lake, write_map(tmp_path / "c.csv", [("X", "youtube", uc)]))
    assert again.rows_written == 0


def test_synth_spreads_a_world_over_platforms_with_a_valid_creator_map() -> None:
    from vieweratlas.platforms import PLATFORMS
    from vieweratlas.synth import SynthSpec, generate, spread_platforms

    data = spread_platforms(generate(SynthSpec(channels=60, viewers=3000, seed=5)),
                            ("twitch", "kick", "youtube"), 0.3, 5)  # fmt: skip
    rows = data.presence.select(["platform", "channel", "user"]).to_pylist()
    assert {r["platform"] for r in rows} == {"twitch", "kick", "youtube"}
    for r in rows[:: max(1, len(rows) // 2000)]:
        assert PLATFORMS[r["platform"]].normalize(r["channel"]) == r["channel"]
    users = {}
    for r in rows:
        users.setdefault(r["user"], set()).add(r["platform"])
    assert all(len(p) == 1 for p in users.values())  # each viewer lives on one platform
    assert data.creators is not None and data.creators.num_rows > 0
    per_creator: dict[str, set[str]] = {}
    for c in data.creators.to_pylist():
        assert PLATFORMS[c["platform"]].normalize(c["channel"]) == c["channel"]
        per_creator.setdefault(c["creator"], set()).add(c["platform"])
    assert all(len(p) == 2 for p in per_creator.values())


def test_import_creators_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from testkit import run_cli

    lake = str(tmp_path / "lake")
    good = write_map(tmp_path / "ok.csv", [("Ann", "twitch", "ann_tv"), ("Ann", "kick", "ann-tv")])
    assert run_cli(["import", "creators", str(good), "--lake", lake]) == 0
    assert "creators: 2 rows read, 2 new" in capsys.readouterr().out
    bad = write_map(tmp_path / "bad.csv", [("Bob", "kick", "bob tv")])
    assert run_cli(["import", "creators", str(bad), "--lake", lake]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.csv:2" in err
    assert Lake.open(lake).read("creators").num_rows == 2
