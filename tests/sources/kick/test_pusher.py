"""The Pusher transport against a Pusher protocol 7 server: chat fills the lake
(source=pusher), pings are answered, malformed frames are counted and skipped, a dropped
connection is re-opened and every room re-subscribed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kick_fake import PusherFake, kick_api
from kick_harness import kick_settings, running

from testkit import wait_until
from vieweratlas.lake import Lake

pytestmark = pytest.mark.server


@pytest.fixture
def pusher() -> Iterator[PusherFake]:
    fake = PusherFake().start()
    yield fake
    fake.stop()


def now() -> datetime:
    return datetime.now(UTC)


def test_pusher_fills_the_lake_and_survives_bad_frames_and_disconnects(
    pusher: PusherFake, tmp_path: Path
) -> None:
    channels = tmp_path / "kick.txt"
    channels.write_text("alpha\nbeta\nghost\n")  # ghost: the web API does not know it
    with kick_api("unused", channels={"alpha": 1, "beta": 2}) as api:
        settings = kick_settings(
            tmp_path / "lake", api.url, transport="pusher", pusher_url=pusher.url,
            collect={"reconnect_min": "0.05s", "reconnect_max": "0.2s"},
        )  # fmt: skip
        alpha, beta = api.chatrooms["alpha"], api.chatrooms["beta"]
        with running(settings, now, channels_file=channels) as col:
            wait_until(lambda: pusher.subscribed(alpha) and pusher.subscribed(beta))
            pusher.chat(alpha, "ann", user_id=1)
            pusher.chat(beta, "Ben", user_id=2)
            room = f"chatrooms.{alpha}.v2"
            event = "App\\Events\\ChatMessageEvent"
            bad_sender = json.dumps({"sender": {"slug": "no way!"}})
            for junk in (
                "not json",
                "[1, 2]",
                json.dumps({"event": 5}),
                json.dumps({"event": event, "channel": room, "data": "{bad"}),
                json.dumps({"event": event, "channel": room, "data": bad_sender}),
            ):
                pusher.send_raw(junk)
            pusher.ping()
            wait_until(lambda: col.stats.messages == 2 and col.stats.malformed == 5)
            wait_until(lambda: any(f.get("event") == "pusher:pong" for f in pusher.frames_in))
            pusher.drop_all()
            wait_until(lambda: pusher.connections >= 2 and pusher.subscribed(alpha))
            pusher.chat(alpha, "cat", user_id=3)
            wait_until(lambda: col.stats.messages == 3)
            assert col.stats.reconnects >= 1
    table = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    got = sorted((r["channel"], r["user"], r["user_id"], r["source"], r["platform"]) for r in table)
    assert got == [
        ("alpha", "ann", "1", "pusher", "kick"),
        ("alpha", "cat", "3", "pusher", "kick"),
        ("beta", "ben", "2", "pusher", "kick"),
    ]
