"""``collect chatters``: Get Chatters presence for moderated channels, 403s skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helix_server import USER_TOKEN, FakeClock, FakeTwitch, running

from vieweratlas.cli import main
from vieweratlas.config import load_settings
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake
from vieweratlas.sources.twitch.helix import collect_chatters_async

pytestmark = pytest.mark.server


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    gen = running()
    fake = next(gen)
    fake.add_streams(3)  # chan0000 (100000), chan0001 (100001), chan0002 (100002)
    fake.moderated |= {"100000", "100002"}
    fake.chatters["100000"] = [
        {"user_id": str(i), "user_login": f"viewer{i}", "user_name": f"Viewer{i}"}
        for i in range(2100)
    ]
    fake.chatters["100002"] = [
        {"user_id": "5", "user_login": "viewer5", "user_name": "Viewer5"},
        {"user_id": "7", "user_login": "Loud_One", "user_name": "Loud_One"},
    ]
    yield fake
    gen.close()


def test_chatters_presence_for_moderated_channels_only(fake: FakeTwitch, lake: Lake) -> None:
    settings = load_settings(
        environ={}, overrides={"twitch": fake.twitch_settings(oauth_token=USER_TOKEN)}
    )
    now = datetime(2026, 11, 20, 12, 7, 31, tzinfo=UTC)
    result = asyncio.run(collect_chatters_async(settings, lake, top=3, now=now, clock=FakeClock()))
    assert result.channels == ("chan0000", "chan0002")
    assert result.skipped == ("chan0001",)  # 403: not a moderator there
    assert result.users == 2102 == result.write.rows_written
    rows = lake.read("presence").to_pylist()
    window = datetime(2026, 11, 20, 12, 5, tzinfo=UTC)  # collect.interval 5m
    assert {r["ts"] for r in rows} == {window}
    assert {r["source"] for r in rows} == {"chatters"}
    assert {r["messages"] for r in rows} == {0}
    small = {(r["user"], r["user_id"]) for r in rows if r["channel"] == "chan0002"}
    assert small == {("viewer5", "5"), ("loud_one", "7")}
    # Pages of 1,000 for the big channel.
    big = [h for h in fake.hits("/helix/chat/chatters") if h.query["broadcaster_id"] == ["100000"]]
    assert len(big) == 3 and all(h.query["first"] == ["1000"] for h in big)
    # The same window again adds nothing.
    again = asyncio.run(collect_chatters_async(settings, lake, top=3, now=now, clock=FakeClock()))
    assert again.write.rows_written == 0


def test_chatters_needs_a_user_token(fake: FakeTwitch, lake: Lake) -> None:
    settings = load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})
    with pytest.raises(ConfigError, match=r"needs twitch\.oauth_token"):
        asyncio.run(collect_chatters_async(settings, lake, top=3, clock=FakeClock()))


def test_cli_collect_chatters_from_channels_file(
    fake: FakeTwitch,
    lake_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TWITCH_OAUTH_TOKEN", f"oauth:{USER_TOKEN}")
    channels = tmp_path / "channels.txt"
    channels.write_text("chan0001\nchan0002\nnot-a-login!\n")
    with pytest.raises(SystemExit) as info:
        main(["collect", "chatters", "--channels-file", str(channels), "--lake", str(lake_dir)])
    assert info.value.code in (0, None)
    captured = capsys.readouterr()
    assert "1 channel(s) read, 1 skipped" in captured.out
    assert USER_TOKEN not in captured.out + captured.err
    n = Lake.open(str(lake_dir)).sql("SELECT count(*) AS n FROM presence WHERE source='chatters'")
    assert n.to_pylist() == [{"n": 2}]
