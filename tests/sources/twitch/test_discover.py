"""``discover``: the Helix top N into the lake's ``channels`` table (library and CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helix_server import FakeClock, FakeTwitch, Fault, running

from vieweratlas.cli import main
from vieweratlas.config import load_settings
from vieweratlas.errors import TwitchError
from vieweratlas.lake import Lake
from vieweratlas.sources.twitch.helix import discover_async

pytestmark = pytest.mark.server


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    yield from running()


def test_discover_top_250_writes_250_distinct_channels(fake: FakeTwitch, lake: Lake) -> None:
    fake.add_streams(400)
    settings = load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})
    now = datetime(2026, 11, 20, 12, 34, 56, 789, tzinfo=UTC)
    result = asyncio.run(discover_async(settings, lake, top=250, now=now, clock=FakeClock()))
    assert len(result.streams) == 250
    assert result.write.rows_written == 250
    rows = lake.read("channels").to_pylist()
    assert len(rows) == 250
    assert len({r["channel"] for r in rows}) == 250
    assert {r["ts"] for r in rows} == {datetime(2026, 11, 20, 12, 34, tzinfo=UTC)}
    top = next(r for r in rows if r["channel"] == "chan0000")
    assert top == {
        "ts": datetime(2026, 11, 20, 12, 34, tzinfo=UTC),
        "channel": "chan0000",
        "channel_id": "100000",
        "display_name": "CHAN0000",
        "game": "Fortnite",
        "language": "en",
        "viewers": 100000,
        "title": "stream 0 <b>&</b>",
        "platform": "twitch",
        "date": "2026-11-20",
    }
    # The same minute again adds nothing.
    again = asyncio.run(discover_async(settings, lake, top=250, now=now, clock=FakeClock()))
    assert again.write.rows_written == 0


def test_malformed_page_leaves_the_lake_unchanged(fake: FakeTwitch, lake: Lake) -> None:
    fake.add_streams(400)
    fake.stream_overlap = 0
    good = fake.streams[:100]
    import json

    first = json.dumps({"data": good, "pagination": {"cursor": "eyJvIjogMTAwfQ=="}})
    fake.fail("/helix/streams", Fault(200, first.encode()), Fault(200, b'{"data": [ {"id"'))
    settings = load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})
    with pytest.raises(TwitchError, match="invalid JSON"):
        asyncio.run(discover_async(settings, lake, top=250, clock=FakeClock()))
    assert lake.read("channels").num_rows == 0
    assert lake.list_files("curated") == []


def _cli_env(fake: FakeTwitch, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)


def test_cli_discover_top_250(
    fake: FakeTwitch,
    lake_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.add_streams(300)
    _cli_env(fake, monkeypatch)
    with pytest.raises(SystemExit) as info:
        main(["discover", "--top", "250", "--lake", str(lake_dir)])
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "250 channels, 250 new rows" in out
    count = Lake.open(str(lake_dir)).sql(
        "SELECT count(DISTINCT channel) AS n, count(game) AS g, count(title) AS t FROM channels"
    )
    assert count.to_pylist() == [{"n": 250, "g": 250, "t": 250}]


def test_cli_discover_bad_answer_exits_2_with_one_line(
    fake: FakeTwitch,
    lake_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli_env(fake, monkeypatch)
    fake.fail("/helix/streams", Fault(200, b"<html>oops</html>"))
    with pytest.raises(SystemExit) as info:
        main(["discover", "--top", "5", "--lake", str(lake_dir)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: helix /streams: answered with invalid JSON (HTTP 200)"
    assert not lake_dir.exists() or not list(lake_dir.rglob("*.parquet"))


def test_cli_discover_without_credentials(
    lake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["discover", "--top", "5", "--lake", str(lake_dir)])
    assert info.value.code == 2
    assert "twitch.client_id" in capsys.readouterr().err
