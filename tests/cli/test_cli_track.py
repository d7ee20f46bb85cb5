"""``vieweratlas track --every 1d`` end to end on a week with planted community events (a
generator the tests own): events on their days with the right lineages, few spurious ones,
stable lineage ids, the migrating channels; reuse of analysed windows; outputs in the lake."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from testkit import run_cli_output as run
from vieweratlas.analysis.quality import nmi
from vieweratlas.cli import main
from vieweratlas.lake import Lake
from vieweratlas.pipeline.track import OUTPUT_FILES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from planted_events import EventsSpec, PlantedWeek, generate

pytestmark = pytest.mark.slow  # a week of windows analysed: ~20 s


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlantedWeek, Path, Path]:
    root = tmp_path_factory.mktemp("track")
    week = generate(EventsSpec(seed=7))
    Lake.open(str(root / "lake")).write("presence", week.presence)
    try:
        main(["track", "--lake", str(root / "lake"), "--out", str(root / "out"), "--every", "1d"])
    except SystemExit as exc:
        assert not exc.code
    return week, root / "lake", root / "out"


def lineages(out: Path, day: str, channels: list[str] | tuple[str, ...]) -> Counter[int]:
    return Counter(
        int(r["lineage"])
        for r in rows(out / "lineage.csv")
        if r["window"] == day and r["channel"] in set(channels)
    )


def main_lineage(out: Path, day: str, channels: list[str] | tuple[str, ...]) -> int:
    return lineages(out, day, channels).most_common(1)[0][0]


def test_planted_events_reported_on_their_days(tracked: tuple[PlantedWeek, Path, Path]) -> None:
    week, _, out = tracked
    spec, days = week.spec, week.days
    base = lambda c: [f"ch{c:03d}x{j:03d}" for j in range(spec.channels)]  # noqa: E731
    events = rows(out / "events.csv")
    structural = [e for e in events if e["event"] in ("birth", "death", "merge", "split")]

    def find(kind: str, day: int) -> dict[str, str]:
        hits = [e for e in structural if e["event"] == kind and e["window"] == days[day]]
        assert hits, f"no {kind} on {days[day]}: {structural}"
        return hits[0]

    split = find("split", spec.split_day)
    assert int(split["lineage"]) == main_lineage(out, days[spec.split_day - 1], base(0))
    halves = base(0)[: spec.channels // 2], base(0)[spec.channels // 2 :]
    into = {int(x) for x in split["detail"].split("into=")[1].split(",")}
    assert {main_lineage(out, days[spec.split_day], h) for h in halves} == into

    merge = find("merge", spec.merge_day)
    before = {main_lineage(out, days[spec.merge_day - 1], base(c)) for c in (1, 2)}
    after = main_lineage(out, days[spec.merge_day], base(1) + base(2))
    assert int(merge["lineage"]) == after and after in before
    assert {int(x) for x in merge["detail"].split("from=")[1].split(",")} == before - {after}

    death = find("death", spec.death_day)
    assert int(death["lineage"]) == main_lineage(out, days[spec.death_day - 1], week.died_channels)
    birth = find("birth", spec.birth_day)
    assert int(birth["lineage"]) == main_lineage(out, days[spec.birth_day], week.born_channels)

    assert len(structural) - 4 <= 3, structural  # a few spurious events at most

    moves = [m for m in rows(out / "migrations.csv") if m["kind"] == "move"]
    assert set(week.migrants) <= {m["channel"] for m in moves}
    assert {m["window"] for m in moves if m["channel"] in week.migrants} == {days[spec.migrate_day]}


def test_lineages_follow_planted_groups_every_day(tracked: tuple[PlantedWeek, Path, Path]) -> None:
    week, _, out = tracked
    found = rows(out / "lineage.csv")
    for day in week.days:
        truth = week.truth.filter(pc.equal(week.truth["day"], day))
        mine = {r["channel"]: int(r["lineage"]) for r in found if r["window"] == day}
        planted = truth["group"].to_pylist()
        # a channel left out of every lineage counts as an error (its own label)
        got = [mine.get(c, -1 - i) for i, c in enumerate(truth["channel"].to_pylist())]
        _, codes = np.unique(planted, return_inverse=True)
        assert nmi(codes, np.array(got)) >= 0.95, day


def test_outputs_and_lake_copy(tracked: tuple[PlantedWeek, Path, Path]) -> None:
    week, lake, out = tracked
    for name in OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
        assert (lake / "tracking" / "latest" / name).read_bytes() == (out / name).read_bytes()
    assert (out / "evolution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for day in week.days:
        for name in ("nodes.csv", "communities.csv", "similar.parquet", "summary.json"):
            assert (out / "windows" / day / name).exists()
        assert not (out / "windows" / day / "atlas.png").exists()  # no pictures unless asked
    history = pq.read_table(out / "similar_history.parquet")
    one = history.filter(pc.equal(history["channel"], "ch007x000")).to_pylist()
    assert {r["window"] for r in one} == set(week.days)
    assert all(r["rank"] >= 1 for r in one) and min(r["rank"] for r in one) == 1
    evo = json.loads((out / "evolution.json").read_text())
    assert evo["windows"] == week.days and evo["lineages"] and evo["flows"]
    # the tracking windows are not runs of the main lake
    assert not (lake / "runs").exists()


def test_rerun_reuses_windows_and_adds_only_new_ones(
    tracked: tuple[PlantedWeek, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, original, out = tracked
    lake = tmp_path / "lake"  # a copy: this test adds a day
    shutil.copytree(original, lake)
    again = tmp_path / "again"
    code, stdout, err = run(
        ["track", "--lake", str(lake), "--out", str(again), "--every", "1d"], capsys
    )
    assert code == 0, err
    summary = json.loads((again / "summary.json").read_text())
    assert all(w["reused"] for w in summary["windows"])
    assert (again / "lineage.csv").read_bytes() == (out / "lineage.csv").read_bytes()
    assert "reused" in stdout
    # one more day of data: only that window is analysed
    extra = generate(EventsSpec(seed=7, days=8))
    last = extra.days[-1]
    Lake.open(str(lake)).write(
        "presence",
        extra.presence.filter(
            pc.greater_equal(
                extra.presence["ts"],
                pc.strptime(last, "%Y-%m-%d", "us", error_is_null=False).cast(
                    extra.presence["ts"].type
                ),
            )
        ),
    )
    code, _, err = run(["track", "--lake", str(lake), "--out", str(again), "--every", "1d"], capsys)
    assert code == 0, err
    summary = json.loads((again / "summary.json").read_text())
    assert [w["reused"] for w in summary["windows"]] == [True] * 7 + [False]


def test_bad_every_exits_2(
    tracked: tuple[PlantedWeek, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lake, _ = tracked
    code, _, err = run(
        ["track", "--lake", str(lake), "--out", str(tmp_path / "x"), "--every", "soon"], capsys
    )
    assert code == 2 and err.startswith("error: track.every")
    assert not (tmp_path / "x").exists()


def test_prune_deletes_only_the_window_caches_no_longer_used(
    tracked: tuple[PlantedWeek, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, original, _ = tracked
    lake = tmp_path / "lake"
    shutil.copytree(original, lake)
    windows = lake / "tracking" / "windows"
    before = {p.name for p in windows.iterdir()}
    # other settings, other keys: the first run's caches are no longer what latest uses
    code, _, err = run(
        ["track", "--lake", str(lake), "--out", str(tmp_path / "o"), "--every", "1d",
         "--preset", "explorer"], capsys,
    )  # fmt: skip
    assert code == 0, err
    used = {
        w["key"] for w in json.loads((lake / "tracking/latest/summary.json").read_text())["windows"]
    }
    assert used and not used & before
    prune = ["lake", "prune", "--lake", str(lake)]
    # made just now: nothing is old enough yet
    code, out, err = run(prune, capsys)
    assert code == 0, err
    assert f"tracking caches: 0 expired, {len(before | used)} kept" in out
    # forty days on, the unused caches go (dry run first), the used ones stay
    later = ["--now", "2099-01-01T00:00:00+00:00"]
    code, out, err = run([*prune, *later], capsys)
    assert code == 0, err
    assert f"{len(before)} tracking cache(s)" in " ".join(out.split())
    assert {p.name for p in windows.iterdir()} == before | used  # a dry run deletes nothing
    code, out, err = run([*prune, *later, "--apply"], capsys)
    assert code == 0, err
    assert {p.name for p in windows.iterdir()} == used
    # what latest uses is still reused as it is
    code, _, err = run(
        ["track", "--lake", str(lake), "--out", str(tmp_path / "p"), "--every", "1d",
         "--preset", "explorer"], capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert all(w["reused"] for w in summary["windows"])
    # --tracking-older-than is checked like every duration
    code, _, err = run([*prune, "--tracking-older-than", "soon"], capsys)
    assert code == 2 and err.startswith("error: retention.tracking")
