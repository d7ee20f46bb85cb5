"""YouTube's web client formats, validated at the boundary: watch pages and live-chat pages.

A watch (or ``/@handle/live``) page embeds three JSON blobs: ``ytInitialPlayerResponse``
(``videoDetails``: video id, channel id, whether it is live; ``microformat…
liveBroadcastDetails.startTimestamp``), ``ytInitialData`` (the ``liveChatRenderer`` with the
first chat continuation; ``isReplay`` for finished streams) and ``ytcfg.set({...})``
(``INNERTUBE_API_KEY``, ``INNERTUBE_CONTEXT``). Chat then comes from
``POST /youtubei/v1/live_chat/get_live_chat`` (or ``…/get_live_chat_replay``) with
``{"context": …, "continuation": …}``; the answer's ``continuationContents.
liveChatContinuation`` holds ``actions`` and the next ``continuations`` (with a
``timeoutMs`` hint for live chat).

These shapes change without notice. Anything we do not know is *reported*, not raised:
:class:`ChatPage` counts unknown actions and keeps one short sample of each kind, so the
collector logs each new kind once and carries on. Only a page that has no chat continuation
at all is a :class:`~vieweratlas.errors.YouTubeError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vieweratlas.errors import YouTubeError
from vieweratlas.platforms import YOUTUBE

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
SAMPLE = 200  # characters of an unknown shape kept for the log

# Renderers whose author is a chatter (text, Super Chat, Super Sticker, membership).
AUTHORED = (
    "liveChatTextMessageRenderer",
    "liveChatPaidMessageRenderer",
    "liveChatPaidStickerRenderer",
    "liveChatMembershipItemRenderer",
)
# Known items and actions that say nothing about who is present.
IGNORED_ITEMS = frozenset(
    {
        "liveChatViewerEngagementMessageRenderer",
        "liveChatPlaceholderItemRenderer",
        "liveChatModeChangeMessageRenderer",
        "liveChatSponsorshipsGiftPurchaseAnnouncementRenderer",
        "liveChatSponsorshipsGiftRedemptionAnnouncementRenderer",
        "liveChatBannerRenderer",
    }
)
IGNORED_ACTIONS = frozenset(
    {
        "markChatItemAsDeletedAction",
        "markChatItemsByAuthorAsDeletedAction",
        "replaceChatItemAction",
        "addLiveChatTickerItemAction",
        "addBannerToLiveChatCommand",
        "removeBannerForLiveChatCommand",
        "updateLiveChatPollAction",
        "showLiveChatTooltipCommand",
        "showLiveChatActionPanelAction",
        "closeLiveChatActionPanelAction",
        "liveChatReportModerationStateCommand",
        "clickTrackingParams",
    }
)
CHAT_CONTINUATIONS = (
    "invalidationContinuationData",
    "timedContinuationData",
    "reloadContinuationData",
    "liveChatReplayContinuationData",
)


def sample(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    return text[:SAMPLE] + ("…" if len(text) > SAMPLE else "")


def _get(data: object, *path: str | int) -> Any:
    """``data[p0][p1]…`` or None where any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def embedded_json(html: str, name: str) -> dict[str, Any] | None:
    """The object assigned to ``name`` in a page (``var name = {…};``, ``window["name"] =
    {…}``, or ``ytcfg.set({…})`` for ``name="ytcfg"``); None when absent or unreadable."""
    if name == "ytcfg":
        starts = [m.end() for m in re.finditer(r"ytcfg\.set\(\s*(?=\{)", html)]
    else:
        pattern = rf"(?:var\s+{name}|window\[['\"]{name}['\"]\]|{name})\s*=\s*(?=\{{)"
        starts = [m.end() for m in re.finditer(pattern, html)]
    decoder = json.JSONDecoder()
    merged: dict[str, Any] | None = None
    for start in starts:
        try:
            value, _ = decoder.raw_decode(html, start)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            if name != "ytcfg":
                return value
            merged = {**(merged or {}), **value}
    return merged


@dataclass(frozen=True)
class WatchPage:
    """What a watch page says about its stream and where its chat starts."""

    video_id: str
    channel: str  # the channel id (``UC…``)
    is_live: bool
    is_replay: bool
    continuation: str
    api_key: str | None
    context: dict[str, Any]
    started_at: datetime | None


def parse_watch_page(html: str, what: str) -> WatchPage:
    player = embedded_json(html, "ytInitialPlayerResponse") or {}
    initial = embedded_json(html, "ytInitialData") or {}
    cfg = embedded_json(html, "ytcfg") or {}
    details = _get(player, "videoDetails") or {}
    video_id = _get(details, "videoId")
    if not isinstance(video_id, str) or not VIDEO_ID.fullmatch(video_id):
        raise YouTubeError(f"{what}: no video on the page (not live, or the page changed)")
    channel = _get(details, "channelId")
    if not isinstance(channel, str) or YOUTUBE.normalize(channel) != channel:
        raise YouTubeError(f"{what}: no channel id for video {video_id}")
    renderer = _get(initial, "contents", "twoColumnWatchNextResults", "conversationBar",
                    "liveChatRenderer")  # fmt: skip
    if not isinstance(renderer, dict):
        raise YouTubeError(f"{what}: video {video_id} has no live chat or chat replay")
    continuation = _chat_continuation(renderer)
    if continuation is None:
        raise YouTubeError(f"{what}: video {video_id}: no chat continuation on the page")
    start = _get(player, "microformat", "playerMicroformatRenderer", "liveBroadcastDetails",
                 "startTimestamp")  # fmt: skip
    context = _get(cfg, "INNERTUBE_CONTEXT")
    key = _get(cfg, "INNERTUBE_API_KEY")
    return WatchPage(
        video_id=video_id,
        channel=channel,
        is_live=_get(details, "isLive") is True,
        is_replay=_get(renderer, "isReplay") is True,
        continuation=continuation,
        api_key=key if isinstance(key, str) and re.fullmatch(r"[\w-]{1,100}", key) else None,
        context=context if isinstance(context, dict) else {"client": {"clientName": "WEB"}},
        started_at=_time(start),
    )


def _chat_continuation(renderer: dict[str, Any]) -> str | None:
    """ "Live chat" (every message) over "Top chat" where the page offers both."""
    items = _get(renderer, "header", "liveChatHeaderRenderer", "viewSelector",
                 "sortFilterSubMenuRenderer", "subMenuItems")  # fmt: skip
    for item in reversed(items if isinstance(items, list) else []):
        token = _get(item, "continuation", "reloadContinuationData", "continuation")
        if isinstance(token, str) and token:
            return token
    for cont in _get(renderer, "continuations") or []:
        for key in CHAT_CONTINUATIONS:
            token = _get(cont, key, "continuation")
            if isinstance(token, str) and token:
                return token
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class ChatItem:
    """One authored chat item: the author's channel id and when it was sent."""

    user: str  # channel id of the author (``UC…``)
    sent_us: int | None  # epoch microseconds (live chat)
    offset_ms: int | None  # from the stream's start (replay)


@dataclass(frozen=True)
class ChatPage:
    items: list[ChatItem]
    continuation: str | None
    timeout_ms: int | None
    unknown: dict[str, str] = field(default_factory=dict)  # kind → sample
    unknown_count: int = 0


class Unknowns:
    """Shapes a parser did not know: counted, with one short sample per kind."""

    def __init__(self) -> None:
        self.samples: dict[str, str] = {}
        self.count = 0

    def __call__(self, kind: str, value: object) -> None:
        self.count += 1
        self.samples.setdefault(kind, sample(value))


def parse_chat_page(data: object, what: str) -> ChatPage:
    """A ``get_live_chat`` / ``get_live_chat_replay`` answer → :class:`ChatPage`."""
    body = _get(data, "continuationContents", "liveChatContinuation")
    if not isinstance(body, dict):
        raise YouTubeError(f"{what}: no liveChatContinuation in the answer ({sample(data)[:80]})")
    items: list[ChatItem] = []
    odd = Unknowns()
    actions = body.get("actions")
    for action in actions if isinstance(actions, list) else []:
        offset: int | None = None
        replay = _get(action, "replayChatItemAction")
        if replay is not None:
            offset = _int(_get(replay, "videoOffsetTimeMsec"))
            inner = _get(replay, "actions")
            if not isinstance(inner, list):
                odd("replayChatItemAction without actions", action)
                continue
            batch = inner
        else:
            batch = [action]
        for act in batch:
            _read_action(act, offset, items, odd)
    continuation, timeout = None, None
    conts = body.get("continuations")
    for cont in conts if isinstance(conts, list) else []:
        for key in CHAT_CONTINUATIONS:
            token = _get(cont, key, "continuation")
            if isinstance(token, str) and token:
                continuation = continuation or token
                timeout = timeout if timeout is not None else _int(_get(cont, key, "timeoutMs"))
        known = (*CHAT_CONTINUATIONS, "playerSeekContinuationData")
        if isinstance(cont, dict) and not any(k in cont for k in known):
            odd("continuation " + ",".join(sorted(map(str, cont)))[:60], cont)
    return ChatPage(items, continuation, timeout, odd.samples, odd.count)


def _read_action(act: object, offset: int | None, items: list[ChatItem], odd: Any) -> None:
    if not isinstance(act, dict) or not act:
        odd("non-object action", act)
        return
    kinds = [k for k in act if k != "clickTrackingParams"]
    if not kinds:
        return
    kind = kinds[0]
    if kind in IGNORED_ACTIONS:
        return
    if kind != "addChatItemAction":
        odd(f"action {kind[:60]}", act)
        return
    item = _get(act, kind, "item")
    if not isinstance(item, dict) or not item:
        odd("addChatItemAction without item", act)
        return
    renderer_kind = next(iter(item))
    if renderer_kind in IGNORED_ITEMS:
        return
    if renderer_kind not in AUTHORED:
        odd(f"item {renderer_kind[:60]}", item)
        return
    renderer = item[renderer_kind]
    author = _get(renderer, "authorExternalChannelId")
    user = YOUTUBE.normalize(author) if isinstance(author, str) else None
    if user is None or not user.startswith("UC"):
        odd(f"{renderer_kind} without author channel id", item)
        return
    items.append(ChatItem(user, _int(_get(renderer, "timestampUsec")), offset))


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    return None
