"""``collect vod``: archives → chat replay → presence buckets, resumable and idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helix_server import FakeClock, FakeTwitch, Fault, recent, running

from vieweratlas.cli import main
from vieweratlas.config import Settings, load_settings
from vieweratlas.errors import TwitchError
from vieweratlas.lake import Lake
from vieweratlas.sources.twitch.vod import VodProgress, VodResult, collect_vods_async

pytestmark = pytest.mark.server

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    fake = next(running_gen := running())
    fake.add_user("alpha", "1")
    fake.add_user("beta", "2")
    fake.add_user("gamma", "3")
    fake.add_video("alpha", "100", T, views=500, length_s=3600)
    fake.add_comments(
        "100",
        [
            (0.0, "a"),
            (299.0, "b"),
            (299.9, "A"),
            (300.0, "b"),
            (300.0, "b"),
            (599.999, "c"),
            (600.0, "a"),
            (1000.0, None),  # deleted account
        ],
    )
    fake.add_video("alpha", "101", NOW - timedelta(days=40), views=1000, length_s=60)
    fake.add_comments("101", [(1.0, "old")])
    beta_start = datetime(2026, 11, 18, 23, 58, tzinfo=UTC)
    fake.add_video("beta", "200", beta_start, views=100, length_s=900)
    fake.add_comments("200", [(100.0, "z"), (130.0, "z"), (400.0, "y")])
    fake.add_video("beta", "201", T, views=99, length_s=60)
    fake.add_comments("201", [(1.0, "few")])
    yield fake
    running_gen.close()


def settings_for(fake: FakeTwitch) -> Settings:
    return load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})


def collect(fake: FakeTwitch, lake: Lake, progress: Any = None) -> VodResult:
    return asyncio.run(
        collect_vods_async(
            settings_for(fake),
            lake,
            channels=["alpha", "beta", "gamma"],
            now=NOW,
            clock=FakeClock(),
            progress=progress,
        )
    )


def presence(lake: Lake) -> set[tuple[Any, ...]]:
    rows = lake.read("presence").to_pylist()
    return {(r["ts"], r["channel"], r["user"], r["messages"], r["source"]) for r in rows}


def test_buckets_from_vod_start_with_exact_edges(fake: FakeTwitch, lake: Lake) -> None:
    seen: list[VodProgress] = []
    result = collect(fake, lake, seen.append)
    assert result.listed == 2  # too old (40 days) and too few views (99) are left out
    assert sorted(result.processed) == ["100", "200"]
    assert result.comments == 7 + 3
    m5 = timedelta(minutes=5)
    b0 = datetime(2026, 11, 18, 23, 58, tzinfo=UTC)
    assert presence(lake) == {
        (T, "alpha", "a", 2, "vod"),  # 0 s and 299.9 s ("A" lower-cased)
        (T, "alpha", "b", 1, "vod"),  # 299 s
        (T + m5, "alpha", "b", 2, "vod"),  # 300 s twice: the next bucket
        (T + m5, "alpha", "c", 1, "vod"),  # 599.999 s
        (T + 2 * m5, "alpha", "a", 1, "vod"),  # 600 s
        (b0, "beta", "z", 2, "vod"),
        (b0 + m5, "beta", "y", 1, "vod"),  # lands on the next UTC day
    }
    assert result.rows_written == 7
    vods = {r["video_id"]: r for r in lake.read("vods").to_pylist()}
    assert set(vods) == {"100", "200"}
    assert vods["100"]["comments"] == 7 and vods["100"]["presence_rows"] == 5
    assert vods["100"]["ts"] == T and vods["100"]["length_s"] == 3600
    done = [p for p in seen if p.done]
    assert [(p.video_id, p.index, p.total) for p in done] == [("100", 1, 2), ("200", 2, 2)]
    offsets = [p.offset_s for p in seen if p.video_id == "100"]
    assert offsets == sorted(offsets) and offsets[-1] == 3600


def test_second_run_adds_nothing_and_fetches_no_comments(fake: FakeTwitch, lake: Lake) -> None:
    collect(fake, lake)
    files = lake.list_files("curated")
    gql_before = len(fake.hits("/gql"))
    again = collect(fake, lake)
    assert again.already_done == 2
    assert again.processed == () and again.rows_written == 0
    assert len(fake.hits("/gql")) == gql_before  # nothing re-fetched
    assert lake.list_files("curated") == files
    assert lake.sql("SELECT count(*) AS n FROM vods").to_pylist() == [{"n": 2}]


def test_interrupted_run_resumes_where_it_stopped(fake: FakeTwitch, lake: Lake) -> None:
    # VOD 200 (beta) goes through; then VOD 100's first comment page is garbage.
    fake.gql_page = 50
    fake.fail("/gql", Fault(0), Fault(200, b'[{"data":'))
    with pytest.raises(TwitchError, match="invalid JSON"):
        asyncio.run(
            collect_vods_async(
                settings_for(fake), lake, channels=["beta", "alpha"], now=NOW, clock=FakeClock()
            )
        )
    assert {r["video_id"] for r in lake.read("vods").to_pylist()} == {"200"}
    assert {r[1] for r in presence(lake)} == {"beta"}
    before = len(fake.hits("/gql"))
    result = collect(fake, lake)
    assert result.processed == ("100",) and result.already_done == 1
    assert len(fake.hits("/gql")) == before + 1  # only VOD 100's single page
    assert len(presence(lake)) == 7


def test_malformed_comment_page_writes_nothing(fake: FakeTwitch, lake: Lake) -> None:
    fake.fail("/gql", Fault(200, b"{not json"))
    with pytest.raises(TwitchError, match=r"^gql comments of video 100: answered with invalid"):
        collect(fake, lake)
    assert lake.list_files("curated") == []


def test_unavailable_vod_is_skipped(fake: FakeTwitch, lake: Lake) -> None:
    del fake.comments["200"]
    result = collect(fake, lake)
    assert result.unavailable == ("200",)
    assert result.processed == ("100",)


def test_cli_collect_vod_from_channels_file(
    fake: FakeTwitch,
    lake_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = recent(2)
    fake.add_user("delta", "4")
    fake.add_video("delta", "400", start, views=1000, length_s=1200)
    fake.add_comments("400", [(10.0, "p"), (310.0, "p"), (320.0, "q")])
    fake.add_video("delta", "401", recent(45), views=50, length_s=60)
    fake.add_comments("401", [(1.0, "r")])
    channels = tmp_path / "channels.txt"
    channels.write_text("# tracked\ndelta\n#delta   # the IRC spelling is fine\nbad name!\n")
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    args = ["collect", "vod", "--channels-file", str(channels), "--lake", str(lake_dir)]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "1 replayed" in out and "3 comments" in out
    lake = Lake.open(str(lake_dir))
    rows = lake.sql(
        'SELECT channel, "user", messages, ts FROM presence ORDER BY ts, "user"'
    ).to_pylist()
    assert [(r["channel"], r["user"], r["messages"]) for r in rows] == [
        ("delta", "p", 1),
        ("delta", "p", 1),
        ("delta", "q", 1),
    ]
    assert rows[0]["ts"] == start
    # The 45-day-old VOD is outside max_age_days (and has too few views); widen both:
    with pytest.raises(SystemExit):
        main([*args, "--max-age-days", "60", "--min-views", "0"])
    out = capsys.readouterr().out
    assert "1 already in the lake" in out
    assert "1 replayed" in out
    assert lake.sql("SELECT count(*) AS n FROM vods").to_pylist() == [{"n": 2}]
