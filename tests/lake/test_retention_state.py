"""Retention of what is not a time-partitioned table: the Kick receiver's delivery ids are
pruned once past the replay window and never while a restarted receiver would read them;
the creator map (rows at one fixed time) is never aged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lakedata import presence

from testkit import run_cli
from vieweratlas.config import RetentionSettings
from vieweratlas.lake import Lake
from vieweratlas.lake.retention import apply_prune, deliveries_keep, plan_prune
from vieweratlas.sources.common.windows import window_start
from vieweratlas.sources.kick.webhook import STATE_DIR, SeenIds

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=5)
INTERVAL = timedelta(minutes=5)


def save_windows(lake: Lake, starts: list[datetime]) -> dict[datetime, str]:
    """Delivery ids saved the way the receiver saves them: one id per window."""
    seen = SeenIds(1000)
    ids = {}
    for start in starts:
        ids[start] = f"id-{start:%H%M}-{start:%d}"
        seen.add(ids[start], start)
        seen.save(lake, start)
    return ids


def test_delivery_ids_past_the_replay_window_are_pruned_and_needed_ones_kept(lake: Lake) -> None:
    keep = deliveries_keep(MAX_AGE, INTERVAL)
    assert keep == MAX_AGE + timedelta(hours=1)  # at least an hour beyond the age check
    starts = [NOW - timedelta(minutes=5 * i) for i in range(0, 40)]
    starts += [NOW - timedelta(days=d) for d in (1, 3, 30)]
    ids = save_windows(lake, starts)
    p = plan_prune(lake, RetentionSettings(), now=NOW, deliveries=keep)
    expired = {e.path for e in p.expired}
    assert expired and all(path.startswith(f"{STATE_DIR}/") for path in expired)
    # brute force: a window's file goes exactly when its start is `keep` or more ago
    for start in starts:
        name = f"{STATE_DIR}/{start:%Y%m%dT%H%M%SZ}.json"
        assert (name in expired) == (start <= NOW - keep), start
    assert apply_prune(lake, p) == len(expired)
    # a receiver restarted now (or any time later) still refuses every id it would check
    for later in (NOW, NOW + timedelta(minutes=7), NOW + timedelta(minutes=30)):
        since = window_start(later - MAX_AGE, INTERVAL)
        restarted = SeenIds(1000)
        restarted.load(lake, since)
        assert all(ids[s] in restarted for s in starts if s >= since)
    # other state and the tables are untouched by this rule
    assert plan_prune(lake, RetentionSettings(), now=NOW, deliveries=keep).expired == ()


def test_lake_prune_prunes_delivery_ids_from_the_command_line(
    lake_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake.open(lake_url)
    save_windows(lake, [NOW - timedelta(days=2), NOW - timedelta(minutes=10)])
    base = ["lake", "prune", "--lake", lake_url, "--now", NOW.isoformat()]
    assert run_cli(base) == 0
    assert "kick_deliveries" in capsys.readouterr().out
    assert run_cli([*base, "--apply"]) == 0
    left = lake.list_files(STATE_DIR)
    assert left == [f"{STATE_DIR}/{NOW - timedelta(minutes=10):%Y%m%dT%H%M%SZ}.json"]


def test_lake_prune_keeps_the_creator_map(lake_url: str, tmp_path: Path) -> None:
    lake = Lake.open(lake_url)
    creators = tmp_path / "creators.csv"
    creators.write_text("creator,platform,channel\nAlice,twitch,alice_tv\nAlice,kick,alice-tv\n")
    assert run_cli(["import", "creators", str(creators), "--lake", lake_url]) == 0
    old = NOW - timedelta(days=400)
    lake.write("presence", presence([(old, "alice_tv", "u1")]))
    args = ["lake", "prune", "--lake", lake_url, "--now", NOW.isoformat(), "--curated", "30d"]
    assert run_cli([*args, "--apply"]) == 0
    assert lake.read("presence").num_rows == 0  # curated retention did run
    rows = lake.read("creators").to_pylist()
    assert sorted((r["platform"], r["channel"], r["creator"]) for r in rows) == [
        ("kick", "alice-tv", "Alice"),
        ("twitch", "alice_tv", "Alice"),
    ]
    # and a re-import is still a no-op (the fixed time keeps the key)
    assert run_cli(["import", "creators", str(creators), "--lake", lake_url]) == 0
    assert lake.read("creators").num_rows == 2
