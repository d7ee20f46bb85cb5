"""``vieweratlas similar`` end to end on a real lake, against brute force with the bots that
``analyze`` removed (its bots.csv); a run's ``similar.parquet``; bad names exit 2."""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from testkit import run_cli_output as run
from vieweratlas.cli import main
from vieweratlas.lake import Lake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_similar import brute, world


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pa.Table]:
    root = tmp_path_factory.mktemp("similar")
    presence = world(seed=4)
    n = presence.num_rows
    rows = (
        presence.append_column("source", pa.array(["import"] * n))
        .append_column("messages", pa.array([0] * n, pa.int32()))
        .append_column("user_id", pa.nulls(n, pa.string()))
    )
    Lake.open(str(root / "lake")).write("presence", rows)
    try:
        main(["analyze", "--lake", str(root / "lake"), "--out", str(root / "run"), "--no-render"])
    except SystemExit as exc:
        assert not exc.code
    return root / "lake", root / "run", presence


def analyze_bots(run_dir: Path) -> set[tuple[str, str]]:
    bots = pacsv.read_csv(run_dir / "bots.csv")
    return set(zip(bots["platform"].to_pylist(), bots["user"].to_pylist(), strict=True))


def test_similar_matches_brute_force_without_analyze_bots(
    analysed: tuple[Path, Path, pa.Table], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, run_dir, presence = analysed
    bots = analyze_bots(run_dir)
    assert ("twitch", "nightbot") in bots
    sets, n = brute(presence, bots)
    code, out, err = run(
        [
            "similar",
            "c07",
            "--lake",
            str(lake),
            "--platform",
            "twitch",
            "--top",
            "500",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["viewers_in_window"] == n
    (entry,) = data["channels"]
    me = ("twitch", "c07")
    assert entry["viewers"] == len(sets[me])
    expect = {o: len(sets[me] & sets[o]) for o in sets if o != me and sets[me] & sets[o]}
    got = {(r["other_platform"], r["other"]): r for r in entry["similar"]}
    assert {k: r["shared"] for k, r in got.items()} == expect
    nodes = pq.read_table(run_dir / "nodes.parquet")
    keys = zip(nodes["platform"].to_pylist(), nodes["channel"].to_pylist(), strict=True)
    community = dict(zip(keys, nodes["community"].to_pylist(), strict=True))
    for o, r in got.items():
        assert r["share_of_channel"] == pytest.approx(expect[o] / len(sets[me]), abs=1e-9)
        assert r["share_of_other"] == pytest.approx(expect[o] / len(sets[o]), abs=1e-9)
        assert r["lift"] == pytest.approx(expect[o] * n / (len(sets[me]) * len(sets[o])), abs=1e-9)
        assert r["community"] == community.get(o)
    assert any(r["community"] is not None for r in got.values())


def test_run_writes_similar_parquet(analysed: tuple[Path, Path, pa.Table]) -> None:
    lake, run_dir, presence = analysed
    table = pq.read_table(run_dir / "similar.parquet")
    assert table.column_names == [
        "platform", "channel", "other_platform", "other",
        "shared", "share_of_channel", "share_of_other", "lift",
    ]  # fmt: skip
    sets, n = brute(presence, analyze_bots(run_dir))
    nodes = pq.read_table(run_dir / "nodes.parquet")
    eligible = {k for k, v in sets.items() if len(v) >= 10}
    per: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in table.to_pylist():
        me, o = (r["platform"], r["channel"]), (r["other_platform"], r["other"])
        assert r["shared"] == len(sets[me] & sets[o])
        assert r["lift"] == pytest.approx(
            r["shared"] * n / (len(sets[me]) * len(sets[o])), abs=1e-9
        )
        per[me].append(r["shared"])
    for me in eligible:
        best = sorted((len(sets[me] & sets[o]) for o in eligible if o != me), reverse=True)
        assert per[me] == [c for c in best[:20] if c]
    assert nodes.num_rows <= len(per)
    assert (Path(lake) / "analysis").exists()
    copies = list((Path(lake) / "analysis").rglob("similar.parquet"))
    assert len(copies) == 1


def test_several_channels_compare(
    analysed: tuple[Path, Path, pa.Table], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, run_dir, presence = analysed
    sets, _ = brute(presence, analyze_bots(run_dir))
    code, out, err = run(
        [
            "similar",
            "c01",
            "c02",
            "c07",
            "--lake",
            str(lake),
            "--platform",
            "twitch",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    a, b, c = (sets[("twitch", x)] for x in ("c01", "c02", "c07"))
    subsets = {r["subset"]: r["viewers"] for r in data["subsets"]}
    assert subsets.get("c01 & c02 & c07", 0) == len(a & b & c)
    assert subsets.get("c01", 0) == len(a - b - c)
    assert sum(subsets.values()) == len(a | b | c)
    assert {(r["a"], r["b"]): r["shared"] for r in data["pairs"]}[("c01", "c02")] == len(a & b)
    code, out, _ = run(
        ["similar", "c01", "c02", "--lake", str(lake), "--platform", "twitch"], capsys
    )
    assert code == 0 and "c01 & c02" in out


def test_csv_and_table_output(
    analysed: tuple[Path, Path, pa.Table], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, _, _ = analysed
    code, out, _ = run(
        [
            "similar",
            "c07",
            "--lake",
            str(lake),
            "--platform",
            "twitch",
            "--top",
            "3",
            "--format",
            "csv",
        ],
        capsys,
    )
    assert code == 0
    table = pacsv.read_csv(io.BytesIO(out.encode()))
    assert table.num_rows == 3 and "community" in table.column_names
    code, out, _ = run(
        ["similar", "c07", "--lake", str(lake), "--platform", "twitch", "--sort", "lift"], capsys
    )
    assert code == 0 and "lift" in out and "twitch/c07" in out


def test_unknown_and_ambiguous_channels_exit_2(
    analysed: tuple[Path, Path, pa.Table], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, _, _ = analysed
    code, out, err = run(["similar", "c7x", "--lake", str(lake)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: channel 'c7x'") and "did you mean" in err and err.count("\n") == 1
    code, _, err = run(["similar", "c00", "--lake", str(lake)], capsys)
    assert code == 2 and "kick, twitch" in err and "--platform" in err
    code, out, _ = run(["similar", "c00", "--lake", str(lake), "--platform", "kick"], capsys)
    assert code == 0 and "kick/c00" in out


def test_window_without_presence_exits_2(
    analysed: tuple[Path, Path, pa.Table], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, _, _ = analysed
    code, out, err = run(["similar", "c07", "--lake", str(lake), "--until", "2020-01-01"], capsys)
    assert code == 2 and out == "" and "no presence rows" in err
