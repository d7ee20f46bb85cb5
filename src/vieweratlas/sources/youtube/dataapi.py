"""The official YouTube Data API v3 (``collect youtube --method api``), validated at the boundary.

Calls and their quota cost (units of Google's daily quota, 10,000 by default):

* ``GET /youtube/v3/channels?part=id&forHandle=@name`` → the channel id of a handle (1);
* ``GET /youtube/v3/search?part=id&channelId=UC…&eventType=live&type=video`` → the channel's
  live video, if any (**100**: the expensive one, made once per channel and refresh);
* ``GET /youtube/v3/videos?part=snippet,liveStreamingDetails&id=…`` → the video's channel
  and ``liveStreamingDetails.activeLiveChatId`` (absent once the stream is over) (1);
* ``GET /youtube/v3/liveChat/messages?liveChatId=…&part=snippet,authorDetails&pageToken=…``
  → ``items`` (``snippet.type``, ``snippet.publishedAt``, ``authorDetails.channelId``),
  ``nextPageToken`` and ``pollingIntervalMillis`` (the wait before the next call) (5).

:class:`Quota` counts the units spent per Pacific-time day (when Google resets it) and
refuses a call that would pass ``youtube.api_quota``: :class:`QuotaExhausted`, which the
collector treats like Google's own ``403 quotaExceeded``, by stopping cleanly. The key goes
in the ``X-goog-api-key`` header (Google accepts it there as well as in ``?key=``), so it is
never part of a URL that a proxy or an HTTP log could record, and it is blanked out of any
message quoted from Google. Unknown message types are counted and reported once, never
raised (:func:`parse_messages` returns the same :class:`ChatPage` as the web client parser).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError, YouTubeError, scrub, shorten
from vieweratlas.platforms import YOUTUBE
from vieweratlas.sources.common.http import RetryPolicy, Transport
from vieweratlas.sources.youtube.innertube import (
    VIDEO_ID,
    ChatItem,
    ChatPage,
    Unknowns,
    _get,
    _int,
    _time,
    sample,
)

log = logging.getLogger(__name__)

COST = {"channels": 1, "search": 100, "videos": 1, "messages": 5}
QUOTA_DAY = ZoneInfo("America/Los_Angeles")  # Google resets the daily quota at midnight PT
MAX_TOKEN = 1024  # a page token or chat id longer than this is not one of Google's

# Message types whose author is a chatter present in the stream.
AUTHORED = frozenset(
    {
        "textMessageEvent",
        "superChatEvent",
        "superStickerEvent",
        "fanFundingEvent",
        "newSponsorEvent",
        "memberMilestoneChatEvent",
        "membershipGiftingEvent",
    }
)
# Known types that say nothing about who is present (moderation, polls, mode changes).
IGNORED = frozenset(
    {
        "chatEndedEvent",
        "messageDeletedEvent",
        "messageRetractedEvent",
        "userBannedEvent",
        "sponsorOnlyModeStartedEvent",
        "sponsorOnlyModeEndedEvent",
        "giftMembershipReceivedEvent",
        "tombstone",
        "pollEvent",
        "pollOpenedEvent",
        "pollClosedEvent",
        "pollEditedEvent",
        "pollVotedEvent",
    }
)
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
GONE_REASONS = frozenset(
    {"liveChatEnded", "liveChatNotFound", "liveChatDisabled", "videoNotFound", "notFound"}
)
BUSY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})


class QuotaExhausted(YouTubeError):
    """The day's quota budget (ours or Google's) is spent: stop until tomorrow."""


class ApiRefused(ConfigError):
    """Google refused the key (invalid, expired, API not enabled for its project)."""


class MalformedAnswer(YouTubeError):
    """An answer of a shape we do not know (counted and logged once, never fatal)."""


class ChatGone(YouTubeError):
    """The live chat ended, was disabled or never existed."""


class Quota:
    """Units spent against a daily ``budget``, per Pacific-time day."""

    def __init__(self, budget: int, now: Any = None) -> None:
        self.budget = budget
        self.now = now or (lambda: datetime.now(UTC))
        self.day: date = self._today()
        self.used = 0

    def _today(self) -> date:
        today: date = self.now().astimezone(QUOTA_DAY).date()
        return today

    def spend(self, units: int, what: str) -> None:
        today = self._today()
        if today != self.day:
            self.day, self.used = today, 0
        if self.used + units > self.budget:
            raise QuotaExhausted(
                f"{what}: would pass the daily quota budget (youtube.api_quota = "
                f"{self.budget:,} units; {self.used:,} used today)"
            )
        self.used += units


@dataclass(frozen=True)
class LiveVideo:
    """What ``videos.list`` says about a video: its channel and active live chat."""

    video_id: str
    channel: str  # UC… id
    chat_id: str | None  # None when the stream is not live (or has no chat)


def _reason(data: object) -> tuple[str, str]:
    """Google's error ``reason`` (first of ``errors[]`` or ``details[]``) and message."""
    error = _get(data, "error")
    message = _get(error, "message")
    reason = _get(error, "errors", 0, "reason") or _get(error, "details", 0, "reason")
    return (
        reason if isinstance(reason, str) else "",
        message if isinstance(message, str) else "",
    )


def parse_messages(data: object, what: str) -> ChatPage:
    """A ``liveChatMessages.list`` answer → :class:`ChatPage` (token, poll hint, authors)."""
    items = _get(data, "items")
    if not isinstance(items, list):
        raise MalformedAnswer(f"{what}: no items in the answer ({sample(data)[:80]})")
    out: list[ChatItem] = []
    odd = Unknowns()
    for item in items:
        kind = _get(item, "snippet", "type")
        if not isinstance(kind, str):
            odd("message without snippet.type", item)
            continue
        if kind in IGNORED:
            continue
        if kind not in AUTHORED:
            odd(f"message type {kind[:60]}", item)
            continue
        author = _get(item, "authorDetails", "channelId") or _get(
            item, "snippet", "authorChannelId"
        )
        user = YOUTUBE.normalize(author) if isinstance(author, str) else None
        if user is None or not user.startswith("UC"):
            odd(f"{kind[:60]} without author channel id", item)
            continue
        sent = _time(_get(item, "snippet", "publishedAt"))
        out.append(ChatItem(user, int(sent.timestamp() * 1e6) if sent else None, None))
    token = _get(data, "nextPageToken")
    poll = _int(_get(data, "pollingIntervalMillis"))
    return ChatPage(
        out,
        token if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN else None,
        poll if poll is not None and poll >= 0 else None,
        odd.samples,
        odd.count,
    )


def parse_video(data: object, video_id: str, what: str) -> LiveVideo | None:
    """A ``videos.list`` answer → the video (None when YouTube does not know it)."""
    items = _get(data, "items")
    if not isinstance(items, list):
        raise MalformedAnswer(f"{what}: no items in the answer ({sample(data)[:80]})")
    if not items:
        return None
    channel = _get(items, 0, "snippet", "channelId")
    if not isinstance(channel, str) or YOUTUBE.normalize(channel) != channel:
        raise MalformedAnswer(f"{what}: video {video_id} has no valid snippet.channelId")
    chat = _get(items, 0, "liveStreamingDetails", "activeLiveChatId")
    ok = isinstance(chat, str) and 0 < len(chat) <= MAX_TOKEN and chat.isprintable()
    return LiveVideo(video_id, channel, chat if ok else None)


def parse_search(data: object, what: str) -> str | None:
    """A ``search.list`` answer → the first live video id, if any."""
    items = _get(data, "items")
    if not isinstance(items, list):
        raise MalformedAnswer(f"{what}: no items in the answer ({sample(data)[:80]})")
    for item in items:
        video = _get(item, "id", "videoId")
        if isinstance(video, str) and VIDEO_ID.fullmatch(video):
            return video
    return None


def parse_channel(data: object, what: str) -> str | None:
    """A ``channels.list?forHandle=`` answer → the channel id, if the handle exists."""
    items = _get(data, "items")
    if items is None and isinstance(data, dict):
        return None  # Google leaves ``items`` out when nothing matched
    if not isinstance(items, list):
        raise MalformedAnswer(f"{what}: no items in the answer ({sample(data)[:80]})")
    channel = _get(items, 0, "id")
    if isinstance(channel, str) and YOUTUBE.normalize(channel) == channel:
        return channel if channel.startswith("UC") else None
    return None


class DataApi:
    """A Data API v3 client with a key, a quota and Google's error reasons sorted out."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        now: Any = None,
    ) -> None:
        yt = settings.youtube
        if yt.api_key is None or not yt.api_key.get_secret_value():
            raise ConfigError(
                "collect youtube --method api needs youtube.api_key (VIEWERATLAS_YOUTUBE__API_KEY)"
            )
        self.key = yt.api_key.get_secret_value()
        self.base = yt.api_url.rstrip("/") + "/youtube/v3"
        self.quota = Quota(yt.api_quota, now)
        self.http = Transport(transport=transport, error=YouTubeError, policy=policy)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, endpoint: str, params: dict[str, str], what: str) -> object:
        """One call; Google's errors become our exceptions. Every attempt (a retried 5xx
        too: Google charges it) spends the call's units first."""
        cost = COST[endpoint.split("/")[-1]]
        url = f"{self.base}/{endpoint}"
        headers = {"X-goog-api-key": self.key, "Accept": "application/json"}

        def build() -> httpx.Request:
            self.quota.spend(cost, what)
            return self.http.client.build_request("GET", url, params=params, headers=headers)

        response = await self.http.send(what, build)
        try:
            data: object = response.json()
        except (ValueError, RecursionError):
            data = None
        status = response.status_code
        if status < 400:
            if data is None:
                raise MalformedAnswer(f"{what}: answered with invalid JSON (HTTP {status})")
            return data
        reason, message = _reason(data)
        detail = shorten(scrub(f"{reason} {message}".strip(), (self.key,)))
        text = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
        if reason in QUOTA_REASONS:
            raise QuotaExhausted(text)
        if reason in GONE_REASONS or status == 404:
            raise ChatGone(text)
        if reason in BUSY_REASONS or status == 429:
            raise YouTubeError(text)
        if status in (400, 401, 403):
            raise ApiRefused(f"{text}: check youtube.api_key and that the YouTube Data API "
                             "is enabled for its project")  # fmt: skip
        raise YouTubeError(text)

    async def channel_id(self, handle: str) -> str | None:
        data = await self.get("channels", {"part": "id", "forHandle": handle},
                              f"youtube api channels {handle}")  # fmt: skip
        return parse_channel(data, f"youtube api channels {handle}")

    async def live_video(self, channel: str) -> str | None:
        what = f"youtube api search {channel}"
        params = {"part": "id", "channelId": channel, "eventType": "live", "type": "video"}
        return parse_search(await self.get("search", params, what), what)

    async def video(self, video_id: str) -> LiveVideo | None:
        what = f"youtube api videos {video_id}"
        params = {"part": "snippet,liveStreamingDetails", "id": video_id}
        return parse_video(await self.get("videos", params, what), video_id, what)

    async def messages(self, chat_id: str, page_token: str | None) -> ChatPage:
        what = "youtube api liveChat/messages"
        params = {"liveChatId": chat_id, "part": "snippet,authorDetails", "maxResults": "2000"}
        if page_token:
            params["pageToken"] = page_token
        return parse_messages(await self.get("liveChat/messages", params, what), what)
