"""A Twitch endpoint that trickles its answer a byte at a time cannot hang a call: every
attempt has an overall deadline (``twitch.request_deadline``), and attempts are bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helix_server import FakeClock, FakeTwitch, Fault, running

from vieweratlas.cli import main
from vieweratlas.config import load_settings
from vieweratlas.errors import TwitchError
from vieweratlas.lake import Lake
from vieweratlas.sources.twitch.helix import discover_async

pytestmark = pytest.mark.server

# A valid answer, padded: trickled at 20 ms a byte it takes ~20 s, far past the deadline,
# while every single byte arrives well inside httpx's per-read timeout.
EMPTY_PAGE = json.dumps({"data": [], "pagination": {}}).ljust(1000).encode()
TOKEN = json.dumps({"access_token": "t", "expires_in": 3600, "token_type": "bearer"})


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    yield from running()


def test_a_trickled_page_times_out_and_is_retried(fake: FakeTwitch, lake: Lake) -> None:
    fake.add_streams(30)
    fake.fail("/helix/streams", Fault(200, EMPTY_PAGE, trickle=0.02))
    settings = load_settings(
        environ={}, overrides={"twitch": fake.twitch_settings(request_deadline="0.3s")}
    )
    clock = FakeClock()
    result = asyncio.run(discover_async(settings, lake, top=10, clock=clock))
    assert len(result.streams) == 10  # the second attempt was answered normally
    assert len(fake.hits("/helix/streams")) == 2
    assert clock.sleeps == [0.5]  # one backoff, as for any timeout


def test_a_trickling_helix_ends_discover_with_one_error(fake: FakeTwitch, lake: Lake) -> None:
    fake.add_streams(30)
    fake.fail("/helix/streams", *[Fault(200, EMPTY_PAGE, trickle=0.02)] * 5)
    settings = load_settings(
        environ={}, overrides={"twitch": fake.twitch_settings(request_deadline="0.2s")}
    )
    with pytest.raises(TwitchError, match=r"^helix /streams: timed out 5 times, giving up$"):
        asyncio.run(discover_async(settings, lake, top=10, clock=FakeClock()))
    assert len(fake.hits("/helix/streams")) == 5
    assert lake.list_files("curated") == []


def test_a_trickled_token_answer_times_out_and_is_retried(fake: FakeTwitch, lake: Lake) -> None:
    fake.add_streams(5)
    fake.fail("/oauth2/token", Fault(200, TOKEN.ljust(1000).encode(), trickle=0.02))
    settings = load_settings(
        environ={}, overrides={"twitch": fake.twitch_settings(request_deadline="0.3s")}
    )
    result = asyncio.run(discover_async(settings, lake, top=5, clock=FakeClock()))
    assert len(result.streams) == 5
    assert len(fake.hits("/oauth2/token")) == 2  # the trickled one, then a real token


@pytest.mark.slow
def test_cli_discover_against_a_trickling_token_endpoint_exits_2(
    fake: FakeTwitch,
    lake_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("VIEWERATLAS_TWITCH__REQUEST_DEADLINE", "0.2s")
    fake.fail("/oauth2/token", *[Fault(200, TOKEN.ljust(1000).encode(), trickle=0.02)] * 5)
    with pytest.raises(SystemExit) as info:
        main(["discover", "--top", "5", "--lake", str(lake_dir)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: auth: token request: timed out 5 times, giving up"
    assert not lake_dir.exists() or not list(lake_dir.rglob("*.parquet"))
