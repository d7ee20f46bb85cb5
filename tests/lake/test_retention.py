"""Retention: planning is pure and exact at day boundaries; prune deletes only what expired,
on a local folder and on S3; the CLI is a dry run unless --apply."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from lakedata import presence

from testkit import run_cli as _run
from vieweratlas.config import RetentionSettings
from vieweratlas.lake import Lake
from vieweratlas.lake.retention import (
    Rule,
    apply_prune,
    partition_day,
    plan,
    plan_prune,
    rules_from,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RULES = rules_from(RetentionSettings())


def raw_file(day: str, name: str = "part-000000-aa.parquet") -> str:
    return f"raw/irc/seen/platform=twitch/date={day}/{name}"


def vod_file(day: str) -> str:
    return f"raw/vod/comments/platform=twitch/date={day}/part-000000-bb.parquet"


def test_partition_day() -> None:
    assert partition_day(raw_file("2026-10-01")) == date(2026, 10, 1)
    assert partition_day("raw/x/no-date/file.bin") is None
    assert partition_day("raw/x/date=2026-13-40/file.bin") is None
    assert partition_day("raw/x/date=20261001/file.bin") is None
    assert partition_day("raw/x/mydate=2026-10-01/file.bin") is None


def test_rules_most_specific_first() -> None:
    names = [r.name for r in RULES]
    assert names == ["vod_raw", "raw", "curated"]
    assert RULES[0].keep == timedelta(days=7)
    assert RULES[1].keep == timedelta(days=30)
    assert RULES[2].keep is None  # curated data is kept by default


def test_plan_day_boundaries() -> None:
    # raw keeps 30 days: the day 2026-10-25 ends 10-26 00:00, which is exactly now - 30d.
    now = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    files = [
        raw_file("2026-10-24"),
        raw_file("2026-10-25"),  # expires exactly at the boundary
        raw_file("2026-10-26"),
        vod_file("2026-11-17"),  # vod keeps 7 days: ends 11-18 00:00 == now - 7d
        vod_file("2026-11-18"),
        "curated/presence/platform=twitch/date=2020-01-01/part-1.parquet",
        "analysis/20200101T000000Z-abc/summary.json",
        "raw/notes/readme.txt",
    ]
    p = plan(files, RULES, now=now)
    assert [e.path for e in p.expired] == [
        raw_file("2026-10-24"),
        raw_file("2026-10-25"),
        vod_file("2026-11-17"),
    ]
    assert p.kept == {"vod_raw": 1, "raw": 2, "curated": 1}
    assert p.undated == 1
    assert p.expired[0].age_days == 32
    with pytest.raises(ValueError, match="timezone"):
        plan(files, RULES, now=datetime(2026, 11, 25))


def test_plan_curated_when_configured() -> None:
    rules = rules_from(RetentionSettings(curated=timedelta(days=365)))
    f = "curated/presence/platform=twitch/date=2024-01-01/part-1.parquet"
    assert [e.rule for e in plan([f], rules, now=NOW).expired] == ["curated"]
    custom = (Rule("raw", "raw/", timedelta(hours=1)),)
    assert len(plan([raw_file("2026-11-24")], custom, now=NOW).expired) == 1


def _populate(lake: Lake) -> dict[str, str]:
    """Old and new raw files, VOD raw, curated presence and a run output."""
    files = {
        "old_raw": raw_file("2026-09-01"),
        "new_raw": raw_file("2026-11-20"),
        "old_vod": vod_file("2026-11-10"),
        "new_vod": vod_file("2026-11-24"),
        "run": "analysis/20260901T000000Z-abcdef/summary.json",
    }
    for path in files.values():
        lake.write_bytes(path, b"data")
    old = presence([(datetime(2026, 1, 1, tzinfo=UTC), "alpha", "ann")])
    (curated,) = lake.write("presence", old).files
    files["curated"] = curated
    return files


def test_prune_on_lake(lake: Lake) -> None:
    files = _populate(lake)
    p = plan_prune(lake, RetentionSettings(), now=NOW)
    assert sorted(e.path for e in p.expired) == sorted([files["old_raw"], files["old_vod"]])
    seen: list[str] = []
    assert apply_prune(lake, p, progress=lambda e: seen.append(e.path)) == 2
    assert sorted(seen) == sorted(e.path for e in p.expired)
    remaining = set(lake.list_files(""))
    assert remaining == {files[k] for k in ("new_raw", "new_vod", "run", "curated")}
    # Idempotent: a second prune finds nothing; applying a stale plan is harmless.
    assert plan_prune(lake, RetentionSettings(), now=NOW).expired == ()
    assert apply_prune(lake, p) == 2
    assert lake.read("presence").num_rows == 1


def test_cli_dry_run_then_apply(lake_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    lake = Lake.open(lake_url)
    files = _populate(lake)
    base = ["lake", "prune", "--lake", lake_url, "--now", NOW.isoformat()]
    assert _run(base) == 0
    out = "".join(capsys.readouterr().out.split())
    assert files["old_raw"] in out
    assert files["old_vod"] in out
    assert files["new_raw"] not in out
    assert "dryrun:2file(s)wouldbedeleted" in out
    assert lake.exists(files["old_raw"])  # nothing deleted in a dry run

    assert _run([*base, "--apply"]) == 0
    assert "deleted2file(s)" in "".join(capsys.readouterr().out.split())
    assert not lake.exists(files["old_raw"])
    assert not lake.exists(files["old_vod"])
    assert lake.exists(files["new_vod"])

    # Shorter keep-times from the command line; curated only when asked.
    assert _run([*base, "--vod-raw", "6h", "--curated", "300d", "--apply"]) == 0
    assert not lake.exists(files["new_vod"])
    assert not lake.exists(files["curated"])
    assert lake.exists(files["new_raw"])
    assert lake.exists(files["run"])


def test_cli_rejects_bad_values(lake_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["lake", "prune", "--lake", lake_url, "--raw", "soon"]) == 2
    assert "retention.raw" in capsys.readouterr().err
    assert _run(["lake", "prune", "--lake", lake_url, "--now", "yesterday"]) == 2
    assert "--now" in capsys.readouterr().err


def make_run(lake: Lake, created: datetime) -> str:
    """A run as publish leaves it: files under analysis/<id>/ and the index entry last."""
    from vieweratlas.runs import RunInfo, new_run_id

    run_id = new_run_id(created - timedelta(days=1), created, created)
    for name in ("nodes.parquet", "summary.json"):
        lake.write_bytes(f"analysis/{run_id}/{name}", b"{}")
    info = RunInfo(run_id, created.isoformat(), created.isoformat(), created.isoformat())
    lake.write_bytes(f"runs/{run_id}.json", info.to_json())
    return run_id


def test_plan_runs_keeps_the_newest_and_applies_both_rules() -> None:
    from vieweratlas.lake.retention import RunAge, plan_runs

    runs = [RunAge(f"r{i}", NOW - timedelta(days=10 * i), (f"runs/r{i}.json",)) for i in range(5)]
    expired, kept = plan_runs(runs, keep_last=3, older_than=None, now=NOW)
    assert [r.run_id for r in expired] == ["r3", "r4"] and kept == 3
    expired, kept = plan_runs(runs, keep_last=None, older_than=timedelta(days=15), now=NOW)
    assert [r.run_id for r in expired] == ["r2", "r3", "r4"]
    expired, _ = plan_runs(runs, keep_last=4, older_than=timedelta(days=25), now=NOW)
    assert [r.run_id for r in expired] == ["r3", "r4"]
    # The newest run is kept whatever the rules say.
    expired, kept = plan_runs(
        runs, keep_last=1, older_than=timedelta(seconds=1), now=NOW + timedelta(days=99)
    )
    assert [r.run_id for r in expired] == ["r1", "r2", "r3", "r4"] and kept == 1
    assert plan_runs([], keep_last=1, older_than=None, now=NOW) == ((), 0)


def test_cli_prunes_runs_dry_run_first(lake_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from vieweratlas.runs import list_runs

    lake = Lake.open(lake_url)
    ids = [make_run(lake, NOW - timedelta(days=d)) for d in (40, 20, 10, 2)]
    base = ["lake", "prune", "--lake", lake_url, "--now", NOW.isoformat()]
    assert _run([*base, "--keep-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"expired run {ids[0]}" in out and f"expired run {ids[1]}" in out
    said = " ".join(out.split())
    assert "dry run: 6 file(s) would be deleted (0 data file(s), 2 run(s), 0 tracking" in said
    assert len(list_runs(lake)) == 4  # nothing deleted

    assert _run([*base, "--keep-runs", "2", "--apply"]) == 0
    assert [r.run_id for r in list_runs(lake)] == [ids[3], ids[2]]
    assert lake.list_files(f"analysis/{ids[0]}") == [] and not lake.exists(f"runs/{ids[0]}.json")

    # Older than 1 day: everything but the newest run.
    assert _run([*base, "--runs-older-than", "1d", "--apply"]) == 0
    assert [r.run_id for r in list_runs(lake)] == [ids[3]]
    assert lake.list_files("analysis") == [f"analysis/{ids[3]}/nodes.parquet",
                                           f"analysis/{ids[3]}/summary.json"]  # fmt: skip
