"""The Kick webhook receiver against the signing fake: verified deliveries become presence in
their windows; forged, stale and replayed ones are refused and store nothing; restarts never
count a delivery twice; subscriptions follow the channel list and come back when dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kick_fake import WebhookSender, chat_body, kick_api, new_key, public_pem
from kick_harness import MovableClock, kick_settings, running

from testkit import wait_until
from vieweratlas.lake import Lake
from vieweratlas.sources.kick.collector import seen_state

pytestmark = pytest.mark.server

T0 = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def key():  # type: ignore[no-untyped-def]
    return new_key()


def rows(lake_dir: Path) -> list[tuple[datetime, str, str, str, int, str, str | None]]:
    table = Lake.open(str(lake_dir)).read("presence")
    return sorted(
        (r["ts"], r["channel"], r["user"], r["source"], r["messages"], r["platform"], r["user_id"])
        for r in table.to_pylist()
    )


def test_signed_deliveries_become_presence_rows_in_their_windows(key, tmp_path: Path) -> None:
    clock = MovableClock(T0)
    with kick_api(public_pem(key)) as api:
        settings = kick_settings(tmp_path / "lake", api.url)
        with running(settings, clock, channels_file=_channels(tmp_path, "alpha")) as col:
            sender = WebhookSender(col.url or "", key)
            for user, uid, at in (("ann", 1, T0), ("ben", 2, T0 + timedelta(minutes=1)),
                                  ("ann", 1, T0 + timedelta(minutes=2))):  # fmt: skip
                clock.now = at
                r = sender.deliver(chat_body("alpha", user, user_id=uid, sent=at), at=at)
                assert r.status_code == 204, r.text
            clock.now = T0 + timedelta(minutes=6)
            r = sender.deliver(chat_body("beta", "Ann", user_id=1, sent=clock.now), at=clock.now)
            assert r.status_code == 204
            sender.close()
    w0, w1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert rows(tmp_path / "lake") == [
        (w0, "alpha", "ann", "webhook", 2, "kick", "1"),
        (w0, "alpha", "ben", "webhook", 1, "kick", "2"),
        (w1, "beta", "ann", "webhook", 1, "kick", "1"),
    ]


def _channels(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "kick.txt"
    path.write_text("\n".join(names) + "\n")
    return path


@pytest.mark.parametrize("attack", ["tampered", "wrong_key", "stale", "future", "no_signature",
                                    "garbage_signature", "replayed"])  # fmt: skip
def test_forged_stale_and_replayed_deliveries_are_refused_and_store_nothing(
    attack: str, key, tmp_path: Path
) -> None:
    clock = MovableClock(T0)
    with kick_api(public_pem(key)) as api:
        settings = kick_settings(tmp_path / "lake", api.url)
        with running(settings, clock, channels_file=_channels(tmp_path, "alpha")) as col:
            sender = WebhookSender(col.url or "", key)
            body = chat_body("alpha", "mallory", sent=T0)
            if attack == "tampered":
                r = sender.deliver(body, at=T0, tamper=True)
                assert r.status_code == 401
            elif attack == "wrong_key":
                r = WebhookSender(sender.url, new_key()).deliver(body, at=T0)
                assert r.status_code == 401
            elif attack == "stale":
                r = sender.deliver(body, at=T0 - timedelta(minutes=6))
                assert r.status_code == 400
            elif attack == "future":
                r = sender.deliver(body, at=T0 + timedelta(minutes=6))
                assert r.status_code == 400
            elif attack == "no_signature":
                r = sender.deliver(body, at=T0, signature="")
                assert r.status_code == 401
            elif attack == "garbage_signature":
                r = sender.deliver(body, at=T0, signature="AAAA")
                assert r.status_code == 401
            else:
                first = sender.deliver(chat_body("alpha", "ann", sent=T0), at=T0, message_id="ID1")
                assert first.status_code == 204
                again = sender.deliver(body, at=T0, message_id="ID1")  # same id, other body
                assert again.status_code == 400
            sender.close()
            assert col.stats.rejected == 1
    users = {u for _, _, u, *_ in rows(tmp_path / "lake")}
    assert "mallory" not in users
    assert users == ({"ann"} if attack == "replayed" else set())


def test_restart_refuses_redeliveries_of_flushed_windows(key, tmp_path: Path) -> None:
    """The ids of written windows are persisted with them: a redelivery after a restart is
    refused, the lake keeps one row per key, and message counts are not inflated."""
    clock = MovableClock(T0)
    lake_dir = tmp_path / "lake"
    with kick_api(public_pem(key)) as api:
        settings = kick_settings(lake_dir, api.url)
        channels = _channels(tmp_path, "alpha")
        with running(settings, clock, channels_file=channels) as col:
            sender = WebhookSender(col.url or "", key)
            for i in range(3):
                r = sender.deliver(chat_body("alpha", "ann", sent=T0), at=T0, message_id=f"A{i}")
                assert r.status_code == 204
            sender.close()
        first = rows(lake_dir)
        assert first[0][4] == 3
        assert sorted(seen_state(Lake.open(str(lake_dir)))) == ["A0", "A1", "A2"]
        clock.now = T0 + timedelta(seconds=30)
        with running(settings, clock, channels_file=channels) as col:
            sender = WebhookSender(col.url or "", key)
            for i in range(3):  # Kick retrying deliveries it thinks failed
                r = sender.deliver(chat_body("alpha", "ann", sent=T0), at=clock.now,
                                   message_id=f"A{i}")  # fmt: skip
                assert r.status_code == 400
            r = sender.deliver(chat_body("alpha", "cat", sent=clock.now), at=clock.now)
            assert r.status_code == 204
            sender.close()
    final = rows(lake_dir)
    keys = [(ts, ch, u) for ts, ch, u, *_ in final]
    assert len(keys) == len(set(keys))
    assert [r for r in final if r[2] == "ann"] == first
    assert {r[2] for r in final} == {"ann", "cat"}


def test_subscriptions_follow_the_channel_list_and_come_back_when_dropped(
    key, tmp_path: Path
) -> None:
    clock = MovableClock(T0)
    with kick_api(public_pem(key), channels={"alpha": 11, "beta": 12}) as api:
        settings = kick_settings(
            tmp_path / "lake", api.url, client_id="app", client_secret="s3cret-kick",
            collect={"refresh": "0.05s"},
        )  # fmt: skip
        channels = _channels(tmp_path, "alpha", "beta", "unknown-one", "Not A Slug!")
        with running(settings, clock, channels_file=channels):
            wait_until(lambda: api.subscribed() == {11, 12})
            posts = len(api.posts)
            api.drop_subscriptions()
            wait_until(lambda: api.subscribed() == {11, 12})
            assert len(api.posts) == posts + 2
            assert all(p["events"] == [{"name": "chat.message.sent", "version": 1}]
                       and p["method"] == "webhook" for p in api.posts)  # fmt: skip


def test_subscriptions_of_channels_no_longer_wanted_are_deleted(key, tmp_path: Path) -> None:
    clock = MovableClock(T0)
    with kick_api(public_pem(key), channels={"alpha": 11, "beta": 12, "gamma": 13}) as api:
        stale = api.add_subscription(99)  # a channel an earlier run watched
        twins = {api.add_subscription(11), api.add_subscription(11)}  # one of them goes
        other = api.add_subscription(99, event="channel.followed")  # not ours to touch
        settings = kick_settings(
            tmp_path / "lake", api.url, client_id="app", client_secret="s3cret-kick",
            collect={"refresh": "0.05s"},
        )  # fmt: skip
        channels = _channels(tmp_path, "alpha", "beta")
        with running(settings, clock, channels_file=channels):
            wait_until(lambda: api.subscribed() == {11, 12, 99} and stale in api.deleted)
            assert len(twins & set(api.deleted)) == 1 and len(twins & set(api.subscriptions)) == 1
            assert other in api.subscriptions and other not in api.deleted
            channels.write_text("beta\ngamma\n")  # the list changes
            wait_until(lambda: api.subscribed() == {12, 13, 99})
            chat = {s["broadcaster_user_id"] for s in api.subscriptions.values()
                    if s["event"] == "chat.message.sent"}  # fmt: skip
            assert chat == {12, 13}
    assert "DELETE /public/v1/events/subscriptions" in api.requests


def test_top_live_channels_that_leave_the_top_are_unsubscribed(key, tmp_path: Path) -> None:
    live = [(f"ch{i}", 100 + i, 1000 - i) for i in range(5)]
    with kick_api(public_pem(key), live=live) as api:
        settings = kick_settings(tmp_path / "lake", api.url, client_id="app",
                                 client_secret="s3cret-kick",
                                 collect={"refresh": "0.05s"})  # fmt: skip
        with running(settings, MovableClock(T0), top=2):
            wait_until(lambda: api.subscribed() == {100, 101})
            api.set_live([("ch9", 109, 5000), *live[1:]])  # ch0 ends, ch9 comes on top
            wait_until(lambda: api.subscribed() == {109, 101})
        assert len(api.deleted) == 1


def test_top_live_channels_are_subscribed(key, tmp_path: Path) -> None:
    live = [(f"ch{i}", 100 + i, 1000 - i) for i in range(7)]
    with kick_api(public_pem(key), live=live) as api:
        settings = kick_settings(tmp_path / "lake", api.url, client_id="app",
                                 client_secret="s3cret-kick")  # fmt: skip
        with running(settings, MovableClock(T0), top=3) as col:
            # Subscribing and recording the channel list are two steps: wait for both.
            wait_until(lambda: api.subscribed() == {100, 101, 102} and len(col.channels) == 3)
            assert sorted(col.channels) == ["ch0", "ch1", "ch2"]
    meta = Lake.open(str(tmp_path / "lake")).read("channels").to_pylist()
    assert sorted((m["channel"], m["game"], m["viewers"], m["platform"]) for m in meta) == [
        ("ch0", "Just Chatting", 1000, "kick"),
        ("ch1", "Just Chatting", 999, "kick"),
        ("ch2", "Just Chatting", 998, "kick"),
    ]


def test_public_key_comes_from_the_api_and_secrets_stay_out_of_logs(
    key, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with kick_api(public_pem(key), channels={"alpha": 11}) as api:
        settings = kick_settings(tmp_path / "lake", api.url, client_id="app",
                                 client_secret="s3cret-kick")  # fmt: skip
        with running(settings, MovableClock(T0), channels_file=_channels(tmp_path, "alpha")) as c:
            wait_until(lambda: api.subscribed() == {11})
            sender = WebhookSender(c.url or "", key)
            assert sender.deliver(chat_body("alpha", "ann", sent=T0), at=T0).status_code == 204
            sender.close()
        assert "GET /public/v1/public-key" in api.requests
    assert "s3cret-kick" not in caplog.text and "tok-1" not in caplog.text
