"""The YouTube collector against the loopback YouTube: live chat by continuation polling
fills the lake; errors, unknown shapes and dead continuations are survived; finished
streams' replays land in the right buckets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from youtube_fake import Stream, replay_action, text_action, uc, youtube
from yt_harness import running, yt_settings

from testkit import wait_until
from vieweratlas.lake import Lake
from vieweratlas.sources.youtube.collector import channel_target, video_target

pytestmark = pytest.mark.server


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1e6)


def test_live_chat_fills_the_lake_and_survives_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with youtube() as yt:
        a = yt.add(Stream("vidAAAAAAAA", uc(1)), "@alpha")
        b = yt.add(Stream("vidBBBBBBBB", uc(2)), uc(2))
        settings = yt_settings(tmp_path / "lake", yt.url)
        targets = [channel_target("@alpha"), channel_target(uc(2))]
        with running(settings, targets) as col:
            yt.say(a.video_id, text_action(uc(10), now_us()), text_action(uc(11), now_us()))
            yt.say(b.video_id, text_action(uc(10), now_us()))
            wait_until(lambda: col.stats.messages == 3)
            # an unknown action, an author without a channel id, then transport trouble
            yt.say(a.video_id, {"brandNewChatAction": {"x": 1}},
                   {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {}}}},
                   text_action(uc(12), now_us()))  # fmt: skip
            wait_until(lambda: col.stats.messages == 4)
            assert col.stats.malformed == 2
            yt.fail("500", "garbage", "no_contents")
            reads = yt.page_reads
            wait_until(lambda: yt.page_reads > reads)  # a dead answer → the page again
            yt.say(a.video_id, text_action(uc(13), now_us()))
            wait_until(lambda: col.stats.messages == 5)
            reads = yt.page_reads
            yt.kill_continuations(b.video_id)
            wait_until(lambda: yt.page_reads > reads)
            yt.say(b.video_id, text_action(uc(14), now_us()))
            wait_until(lambda: col.stats.messages == 6)
            assert col.stats.reconnects >= 2
    rows = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    got = sorted((r["channel"], r["user"], r["source"], r["platform"]) for r in rows)
    assert got == sorted(
        [(uc(1), uc(u), "innertube", "youtube") for u in (10, 11, 12, 13)]
        + [(uc(2), uc(u), "innertube", "youtube") for u in (10, 14)]
    )
    assert "brandNewChatAction" in caplog.text
    assert caplog.text.count("unknown shape action brandNewChatAction") == 1


def test_a_channel_not_live_yet_is_looked_at_again(tmp_path: Path) -> None:
    with youtube() as yt:
        settings = yt_settings(tmp_path / "lake", yt.url)
        with running(settings, [channel_target("@later")]) as col:
            wait_until(lambda: yt.page_reads >= 2)
            s = yt.add(Stream("vidLLLLLLLL", uc(3)), "@later")
            yt.say(s.video_id, text_action(uc(20), now_us()))
            wait_until(lambda: col.stats.messages == 1)


def test_replay_of_a_finished_stream_is_bucketed_from_its_start(tmp_path: Path) -> None:
    start = datetime(2026, 2, 1, 20, 0, tzinfo=UTC)
    offsets = {uc(30): [1_000, 250_000], uc(31): [299_999, 300_000, 301_000], uc(32): [901_000]}
    pages: list[list[dict[str, object]]] = [[], [], []]
    flat = sorted((o, u) for u, offs in offsets.items() for o in offs)
    for i, (o, u) in enumerate(flat):
        pages[i % 3].append(replay_action(u, o))
    with youtube() as yt:
        yt.add(Stream("vidRRRRRRRR", uc(4), live=False, start=start, replay_pages=pages))
        settings = yt_settings(tmp_path / "lake", yt.url)
        with running(settings, [video_target("vidRRRRRRRR")], replay=True) as col:
            wait_until(lambda: col.replayed == ["vidRRRRRRRR"])
    expect: dict[tuple[datetime, str], int] = {}
    for user, offs in offsets.items():
        for o in offs:
            key = (start + timedelta(seconds=300 * (o // 300_000)), user)
            expect[key] = expect.get(key, 0) + 1
    rows = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    got = {(r["ts"], r["user"]): r["messages"] for r in rows}
    assert got == expect
    assert {(r["channel"], r["source"], r["platform"]) for r in rows} == {
        (uc(4), "innertube", "youtube")
    }
