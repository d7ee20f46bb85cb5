"""``track`` and ``similar`` on both lakes (a folder and S3 on loopback): windows kept under
``tracking/windows/`` are found again, outputs land in ``tracking/latest/``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline.similar import similar_channels
from vieweratlas.pipeline.track import OUTPUT_FILES, track_communities

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from planted_events import EventsSpec, generate

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.slow
def test_track_reuses_windows_and_publishes_latest(lake_url: str, tmp_path: Path) -> None:
    week = generate(EventsSpec(communities=6, channels=12, viewers=150, days=3, seed=2))
    lake = Lake.open(lake_url)
    lake.write("presence", week.presence)
    settings = load_settings(overrides={"lake": lake_url}, environ={})
    first = track_communities(lake, settings, tmp_path / "a", now=NOW)
    assert [w.window.label for w in first.windows] == week.days
    assert not any(w.reused for w in first.windows)
    for name in OUTPUT_FILES:
        assert lake.read_bytes(f"tracking/latest/{name}") == (tmp_path / "a" / name).read_bytes()
    keys = {w.key for w in first.windows}
    stored = {rel.split("/")[2] for rel in lake.list_files("tracking/windows")}
    assert keys == stored
    again = track_communities(lake, settings, tmp_path / "b", now=NOW)
    assert all(w.reused for w in again.windows)
    assert (tmp_path / "b" / "lineage.csv").read_bytes() == (
        tmp_path / "a" / "lineage.csv"
    ).read_bytes()
    result = similar_channels(lake, settings, ["ch001x000"], top=5)
    assert result.tables[0].num_rows == 5
    assert result.run_id is None  # tracking windows are not the lake's runs
