"""``collect youtube --method api`` against the loopback Data API: page tokens, the polling
interval, the quota budget and Google's quotaExceeded, refused keys, malformed answers."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dataapi_fake import API_KEY, data_api, text_message
from yt_harness import running, yt_settings

from testkit import run_cli, wait_until
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake
from vieweratlas.sources.youtube.collector import YouTubeCollector, channel_target, video_target
from vieweratlas.sources.youtube.dataapi import ApiRefused

pytestmark = pytest.mark.server


def uc(n: int) -> str:
    return "UC" + f"Da{n:020d}"[-22:]


def settings(tmp_path: Path, url: str, **youtube: object):  # type: ignore[no-untyped-def]
    yt = {"method": "api", "api_key": API_KEY, "api_url": url, **youtube}
    return yt_settings(tmp_path / "lake", "http://127.0.0.1:9", yt)


def presence(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    rows = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    return sorted((r["channel"], r["user"], r["source"], r["platform"]) for r in rows)


def now() -> datetime:
    return datetime.now(UTC)


def test_channels_by_handle_and_id_follow_page_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with data_api() as api:
        a = api.go_live(uc(1), "vidAAAAAAAA", "chatA", handle="@alpha")
        api.go_live(uc(2), "vidBBBBBBBB", "chatB")
        api.say(a.video_id, text_message(uc(10), now()), text_message(uc(11), now()))
        targets = [channel_target("@alpha"), channel_target(uc(2))]
        with running(settings(tmp_path, api.url), targets) as col:
            wait_until(lambda: col.stats.messages == 2)
            api.say("vidBBBBBBBB", text_message(uc(10), now()))
            api.say(a.video_id, text_message(uc(12), now(), kind="superChatEvent"))
            wait_until(lambda: col.stats.messages == 4)
            assert col.status().what.startswith("youtube api, quota ")
        # every messages call after the first carried the token the previous answer gave
        tokens_a = [t for t in api.tokens]
        assert "" in tokens_a and all(t == "" or t.startswith("tok") for t in tokens_a)
        assert api.count("search") == 2 and api.count("channels") == 1
        used = col.api.quota.used if col.api else -1
        assert used == api.units  # our count is Google's
    assert presence(tmp_path) == sorted(
        [(uc(1), uc(u), "api", "youtube") for u in (10, 11, 12)]
        + [(uc(2), uc(10), "api", "youtube")]
    )
    assert API_KEY not in caplog.text


def test_page_tokens_are_passed_on_in_order(tmp_path: Path) -> None:
    with data_api() as api:
        chat = api.go_live(uc(3), "vidCCCCCCCC", "chatC")
        with running(settings(tmp_path, api.url), [video_target(chat.video_id)]) as col:
            for i in range(3):
                api.say(chat.video_id, text_message(uc(20 + i), now()))
                wait_until(lambda i=i: col.stats.messages == i + 1)  # type: ignore[misc]
        # the fake's token is the log position: with tokens honoured, nothing is re-read
        firsts = [t for t in api.tokens]
        assert firsts[0] == ""
        assert firsts == sorted(firsts, key=lambda t: int(t.removeprefix("tok") or 0))
    assert col.stats.messages == 3
    assert len(presence(tmp_path)) == 3


def test_polling_interval_is_honoured(tmp_path: Path) -> None:
    with data_api() as api:
        chat = api.go_live(uc(4), "vidDDDDDDDD", "chatD", polling_ms=150)
        with running(settings(tmp_path, api.url), [video_target(chat.video_id)]):
            wait_until(lambda: api.count("liveChat/messages") >= 4)
        times = [t for e, _, t in api.calls if e == "liveChat/messages"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # a lower bound only: a wait never ends early, however loaded the machine
    assert gaps and min(gaps) >= 0.14


def test_quota_budget_stops_cleanly_before_it_is_passed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with data_api() as api:
        chat = api.go_live(uc(5), "vidEEEEEEEE", "chatE")
        api.say(chat.video_id, text_message(uc(30), now()))
        # videos (1) + three messages calls (15) fit in 16 units; the fourth would not
        with running(
            settings(tmp_path, api.url, api_quota=16), [video_target(chat.video_id)]
        ) as col:
            wait_until(lambda: col.stop_event.is_set())
        assert api.count("liveChat/messages") == 3 and api.units == 16
        assert col.halted == "quota exhausted"
        assert "stopped: quota exhausted" in col.status().what
    assert presence(tmp_path) == [(uc(5), uc(30), "api", "youtube")]
    assert caplog.text.count("stopping (the open window is written)") == 1


def test_google_quota_exceeded_stops_the_same_way(tmp_path: Path) -> None:
    with data_api() as api:
        chat = api.go_live(uc(6), "vidFFFFFFFF", "chatF")
        api.say(chat.video_id, text_message(uc(31), now()))
        targets = [video_target(chat.video_id), channel_target(uc(7))]
        with running(settings(tmp_path, api.url), targets) as col:
            wait_until(lambda: col.stats.messages == 1)
            api.fail("quota")
            wait_until(lambda: col.stop_event.is_set())
        assert col.halted == "quota exhausted"
    assert presence(tmp_path) == [(uc(6), uc(31), "api", "youtube")]


@pytest.mark.parametrize("how", ["bad_key", "401", "forbidden"])
def test_a_refused_key_is_a_one_line_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with data_api() as api:
        chat = api.go_live(uc(8), "vidGGGGGGGG", "chatG")
        key = "AIzaWrongKey_SECRET" if how == "bad_key" else API_KEY
        if how != "bad_key":
            api.fail(how)
        cfg = settings(tmp_path, api.url, api_key=key)
        with pytest.raises(ApiRefused) as err, running(cfg, [video_target(chat.video_id)]) as col:
            wait_until(lambda: col.stop_event.is_set())  # the run stops itself
    message = str(err.value)
    assert "\n" not in message and "youtube.api_key" in message
    assert key not in message and key not in caplog.text


def test_malformed_answers_are_counted_logged_once_and_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with data_api() as api:
        chat = api.go_live(uc(9), "vidHHHHHHHH", "chatH")
        with running(settings(tmp_path, api.url), [video_target(chat.video_id)]) as col:
            wait_until(lambda: api.count("liveChat/messages") >= 1)
            api.fail("garbage", "no_items", "items_not_list", "500")
            odd = {"snippet": {"type": "brandNewEvent"}, "authorDetails": {}}
            nameless = {
                "snippet": {"type": "textMessageEvent"},
                "authorDetails": {"channelId": "x y"},
            }
            api.say(chat.video_id, odd, odd, nameless, text_message(uc(40), now()))
            wait_until(lambda: col.stats.messages == 1)
            assert col.stats.malformed == 3 + 3  # three bodies, three items
        assert col.api is not None and col.api.quota.used == api.units  # retries count too
    assert presence(tmp_path) == [(uc(9), uc(40), "api", "youtube")]
    assert caplog.text.count("message type brandNewEvent") == 1
    bodies = [r for r in caplog.records if "answered with" in r.message or "no items" in r.message]
    assert len(bodies) == 1  # three malformed bodies, one log line


def test_an_ended_chat_ends_a_video_target(tmp_path: Path) -> None:
    with data_api() as api:
        chat = api.go_live(uc(11), "vidIIIIIIII", "chatI")
        api.say(chat.video_id, text_message(uc(41), now()))
        with running(settings(tmp_path, api.url), [video_target(chat.video_id)]) as col:
            wait_until(lambda: col.stats.messages == 1)
            api.end(chat.video_id)
            wait_until(lambda: col.stop_event.is_set())  # its only target is done
    assert presence(tmp_path) == [(uc(11), uc(41), "api", "youtube")]


def test_method_api_needs_a_key_and_no_replay(tmp_path: Path) -> None:
    cfg = settings(tmp_path, "http://127.0.0.1:9", api_key=None)
    with pytest.raises(ConfigError, match=r"youtube\.api_key"):
        YouTubeCollector(cfg, Lake.open(cfg.lake), [video_target("vidJJJJJJJJ")])
    cfg = settings(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="--replay"):
        YouTubeCollector(cfg, Lake.open(cfg.lake), [video_target("vidJJJJJJJJ")], replay=True)


def test_cli_with_a_refused_key_exits_2_without_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "AIzaWrongKey_NEVER_SHOWN"
    with data_api() as api:
        chat = api.go_live(uc(12), "vidKKKKKKKK", "chatK")
        monkeypatch.setenv("VIEWERATLAS_YOUTUBE__API_KEY", wrong)
        monkeypatch.setenv("VIEWERATLAS_YOUTUBE__API_URL", api.url)
        code = run_cli(["collect", "youtube", "--method", "api", "--video", chat.video_id,
                        "--lake", str(tmp_path / "lake")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 2
    assert out.err.startswith("error: ") and "HTTP 400" in out.err
    assert wrong not in out.err + out.out
