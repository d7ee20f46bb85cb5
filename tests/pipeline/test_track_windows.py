"""Tracking windows: aligned to the epoch, labelled by their ISO start, keyed by settings
and data files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from vieweratlas.config import load_settings
from vieweratlas.errors import AnalysisError
from vieweratlas.lake import Lake
from vieweratlas.pipeline.track import Window, data_range, plan_windows, window_key


def test_daily_windows_start_at_midnight() -> None:
    start = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    windows = plan_windows(start, datetime(2026, 3, 4, 1, tzinfo=UTC), timedelta(days=1))
    assert [w.label for w in windows] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert all(w.end - w.start == timedelta(days=1) for w in windows)


def test_sub_day_windows_have_times_and_safe_folders() -> None:
    windows = plan_windows(
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC), timedelta(hours=6)
    )
    assert [w.label for w in windows] == ["2026-03-02T00:00", "2026-03-02T06:00"]
    assert windows[1].folder == "2026-03-02T0600"


def test_weekly_windows_align_to_the_epoch() -> None:
    windows = plan_windows(
        datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC), timedelta(days=7)
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert all((w.start - epoch) % timedelta(days=7) == timedelta(0) for w in windows)
    assert windows[0].start <= datetime(2026, 3, 4, tzinfo=UTC) < windows[0].end


def test_every_must_be_positive() -> None:
    with pytest.raises(AnalysisError):
        plan_windows(
            datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC), timedelta(0)
        )


def test_key_changes_with_settings_and_data_not_with_track_settings() -> None:
    w = Window(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    base = load_settings(environ={})
    files = ["curated/presence/platform=twitch/date=2026-03-02/part-a.parquet"]
    key = window_key(w, base, files)
    assert key.startswith("20260302T0000_20260303T0000_")
    assert window_key(w, base, list(reversed(files))) == key
    assert window_key(w, base, [*files, "curated/presence/x.parquet"]) != key
    assert (
        window_key(w, load_settings(overrides={"analysis": {"resolution": 2.0}}, environ={}), files)
        != key
    )
    assert (
        window_key(w, load_settings(overrides={"track": {"threshold": 0.5}}, environ={}), files)
        == key
    )
    assert (
        window_key(
            w, load_settings(overrides={"analysis": {"since": "2020-01-01"}}, environ={}), files
        )
        == key
    )


def test_range_from_the_lake_whole_windows_only(lake: Lake) -> None:
    ts = [datetime(2026, 3, d, h, tzinfo=UTC) for d in (2, 3, 4) for h in (1, 13)]
    lake.write(
        "presence",
        pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "platform": ["twitch"] * len(ts),
                "channel": ["a"] * len(ts),
                "user": [f"u{i}" for i in range(len(ts))],
                "user_id": pa.nulls(len(ts), pa.string()),
                "source": ["import"] * len(ts),
                "messages": pa.array([0] * len(ts), pa.int32()),
            }
        ),
    )
    base = load_settings(environ={})
    day = timedelta(days=1)
    later = datetime(2026, 4, 1, tzinfo=UTC)
    assert [w.label for w in data_range(lake, base, day, later)] == [
        "2026-03-02", "2026-03-03", "2026-03-04",
    ]  # fmt: skip
    # the day still running is left out, unless track.partial
    today = datetime(2026, 3, 4, 18, tzinfo=UTC)
    assert [w.label for w in data_range(lake, base, day, today)][-1] == "2026-03-03"
    partial = load_settings(overrides={"track": {"partial": True}}, environ={})
    assert [w.label for w in data_range(lake, partial, day, today)][-1] == "2026-03-04"
    until = load_settings(overrides={"analysis": {"until": "2026-03-04T12:00"}}, environ={})
    assert [w.label for w in data_range(lake, until, day, later)][-1] == "2026-03-03"
    with pytest.raises(AnalysisError, match="no whole window"):
        data_range(lake, base, timedelta(days=7), today)  # its week ends 2026-03-05


def test_empty_lake_is_an_error(lake: Lake) -> None:
    with pytest.raises(AnalysisError, match="no presence"):
        data_range(lake, load_settings(environ={}), timedelta(days=1), datetime.now(UTC))
