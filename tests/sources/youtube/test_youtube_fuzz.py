"""Hostile pages into the YouTube parsers: only YouTubeError ever comes out, and unknown
shapes are counted rather than raised."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from dataapi_fake import text_message
from hypothesis import given, settings
from hypothesis import strategies as st
from youtube_fake import Stream, YouTubeFake, replay_action, text_action, uc

from vieweratlas.errors import VieweratlasError, YouTubeError
from vieweratlas.sources.youtube.dataapi import (
    parse_channel,
    parse_messages,
    parse_search,
    parse_video,
)
from vieweratlas.sources.youtube.innertube import ChatPage, parse_chat_page, parse_watch_page

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=25,
)  # fmt: skip
real_actions = st.sampled_from([text_action(uc(1), 5), replay_action(uc(2), 10)])
action = (
    real_actions
    | json_values
    | st.dictionaries(
        st.sampled_from(["addChatItemAction", "replayChatItemAction", "x"]), json_values, max_size=2
    )
)
page = st.fixed_dictionaries(
    {},
    optional={"continuationContents": st.fixed_dictionaries({}, optional={
        "liveChatContinuation": st.fixed_dictionaries({}, optional={
            "actions": st.lists(action, max_size=5) | json_values,
            "continuations": st.lists(json_values | st.just(
                {"timedContinuationData": {"continuation": "c", "timeoutMs": "x"}}), max_size=3),
        }) | json_values}) | json_values},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(page | json_values)
def test_chat_pages(data: object) -> None:
    try:
        chat = parse_chat_page(data, "fuzz")
    except YouTubeError:
        return
    assert chat.unknown_count >= len(chat.unknown)
    assert all(item.user.startswith("UC") for item in chat.items)


real_html = YouTubeFake.watch_html(None, Stream("vidAAAAAAAA", uc(1)))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(0, len(real_html)), st.integers(0, 400))
def test_watch_pages(noise: str, at: int, cut: int) -> None:
    for html in (noise, real_html[:at] + noise + real_html[at + cut :],
                 "var ytInitialData = " + json.dumps(noise) + ";"):  # fmt: skip
        with contextlib.suppress(YouTubeError):
            parse_watch_page(html, "fuzz")


def test_the_real_shaped_page_parses() -> None:
    page = parse_watch_page(real_html, "page")
    assert (page.video_id, page.channel, page.is_live) == ("vidAAAAAAAA", uc(1), True)
    assert not page.continuation.endswith("top")  # "Live chat", not "Top chat"


# ---------------------------------------------------------------- the Data API's answers

api_item = (
    st.sampled_from([text_message(uc(3), datetime(2026, 1, 1, tzinfo=UTC))])
    | json_values
    | st.fixed_dictionaries({}, optional={
        "snippet": st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["textMessageEvent", "superChatEvent", "tombstone", "odd"])
            | json_values, "publishedAt": st.text(max_size=30) | json_values}) | json_values,
        "authorDetails": st.fixed_dictionaries({}, optional={
            "channelId": st.sampled_from([uc(4), "@handle", ""]) | json_values}) | json_values})
)  # fmt: skip
api_page = st.fixed_dictionaries({}, optional={
    "items": st.lists(api_item, max_size=5) | json_values,
    "nextPageToken": st.text(max_size=20) | json_values,
    "pollingIntervalMillis": st.integers(-5, 10**6) | json_values,
    "offlineAt": st.text(max_size=30) | json_values,
})  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(api_page | json_values)
def test_data_api_answers(data: object) -> None:
    """Every Data API parser: a result or a project error, nothing else."""
    for parse in (
        lambda: parse_messages(data, "fuzz"),
        lambda: parse_video(data, "vidAAAAAAAA", "fuzz"),
        lambda: parse_search(data, "fuzz"),
        lambda: parse_channel(data, "fuzz"),
    ):
        try:
            out = parse()
        except VieweratlasError:
            continue
        if isinstance(out, ChatPage):
            assert all(item.user.startswith("UC") for item in out.items)
            assert out.timeout_ms is None or out.timeout_ms >= 0
