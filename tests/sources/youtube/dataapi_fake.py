"""A loopback YouTube Data API v3: ``channels``, ``search``, ``videos`` and
``liveChat/messages`` with Google's answer and error shapes (developers.google.com/youtube/v3),
page tokens, ``pollingIntervalMillis`` and a quota, scriptable by the tests."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from testkit import LoopbackHTTP, QuietHandler, reply, serving

API_KEY = "AIzaTestDataApiKey_0123456789abcdefghij"
COST = {"channels": 1, "search": 100, "videos": 1, "messages": 5}


def google_error(
    code: int, reason: str, message: str, domain: str = "youtube.api"
) -> dict[str, Any]:
    errors = [{"message": message, "domain": domain, "reason": reason}]
    return {"error": {"code": code, "message": message, "errors": errors}}


def text_message(author: str, at: datetime, name: str = "viewer",
                 kind: str = "textMessageEvent") -> dict[str, Any]:  # fmt: skip
    """A liveChatMessage resource as ``part=snippet,authorDetails`` returns it."""
    published = at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "kind": "youtube#liveChatMessage", "etag": "e", "id": f"m{author}{at.timestamp()}",
        "snippet": {"type": kind, "liveChatId": "chat", "authorChannelId": author,
                    "publishedAt": published, "hasDisplayContent": True,
                    "displayMessage": "hello", "textMessageDetails": {"messageText": "hello"}},
        "authorDetails": {"channelId": author, "channelUrl": f"http://www.youtube.com/channel/{author}",
                          "displayName": name, "profileImageUrl": "", "isVerified": False,
                          "isChatOwner": False, "isChatSponsor": False, "isChatModerator": False},
    }  # fmt: skip


@dataclass
class Chat:
    channel: str  # the streaming channel's UC id
    video_id: str
    chat_id: str
    log: list[dict[str, Any]] = field(default_factory=list)  # every message ever said
    ended: bool = False
    polling_ms: int = 0


class DataApiFake:
    def __init__(self) -> None:
        self.handles: dict[str, str] = {}
        self.chats: dict[str, Chat] = {}  # video id → chat
        self.on_air: dict[str, str] = {}  # channel id → live video id
        self.calls: list[tuple[str, dict[str, str], float]] = []  # endpoint, params, when
        self.tokens: list[str] = []  # pageToken of each messages call ("" for none)
        self.units = 0
        self.fail_next: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                endpoint = url.path.removeprefix("/youtube/v3/")
                key = self.headers.get("X-goog-api-key") or params.get("key")
                with fake.lock:
                    fake.calls.append((endpoint, params, time.monotonic()))
                    if key != API_KEY:
                        body = google_error(400, "badRequest", "API key not valid. Please "
                                            "pass a valid API key.", "global")  # fmt: skip
                        return reply(self, 400, body)
                    fake.units += COST.get(endpoint.rsplit("/", 1)[-1], 0)
                    if fake.fail_next:
                        return fake.failure(self, fake.fail_next.pop(0))
                    status, data = fake.answer(endpoint, params)
                reply(self, status, data)

        self.http = LoopbackHTTP(Handler)
        self.url = self.http.url

    # ------------------------------------------------------------------ answers

    @staticmethod
    def failure(handler: QuietHandler, how: str) -> None:
        if how == "quota":
            text = "The request cannot be completed because you have exceeded your quota."
            body = google_error(403, "quotaExceeded", text, "youtube.quota")
            return reply(handler, 403, body)
        if how == "forbidden":
            return reply(handler, 403, google_error(403, "forbidden", "Access forbidden. "
                                                    f"key={API_KEY}"))  # fmt: skip
        if how == "401":
            return reply(handler, 401, google_error(401, "unauthorized", "Unauthorized"))
        if how == "500":
            return reply(handler, 500, google_error(500, "backendError", "Backend Error"))
        if how == "garbage":
            return reply(handler, 200, b"<html>not json", "text/html")
        if how == "no_items":
            return reply(handler, 200, {"kind": "youtube#liveChatMessageListResponse"})
        if how == "items_not_list":
            return reply(handler, 200, {"items": {"a": 1}, "nextPageToken": "x"})
        raise AssertionError(how)

    def answer(self, endpoint: str, params: dict[str, str]) -> tuple[int, object]:
        if endpoint == "channels":
            found = self.handles.get(params.get("forHandle", ""))
            return 200, ({"kind": "youtube#channelListResponse", "items": [{"id": found}]}
                         if found else {"kind": "youtube#channelListResponse"})  # fmt: skip
        if endpoint == "search":
            assert params.get("eventType") == "live" and params.get("type") == "video"
            video = self.on_air.get(params.get("channelId", ""))
            found = {"kind": "youtube#video", "videoId": video}
            items = [{"kind": "youtube#searchResult", "id": found}] if video else []
            return 200, {"kind": "youtube#searchListResponse", "items": items}
        if endpoint == "videos":
            chat = self.chats.get(params.get("id", ""))
            if chat is None:
                return 200, {"kind": "youtube#videoListResponse", "items": []}
            details: dict[str, Any] = {"actualStartTime": "2026-01-01T00:00:00Z"}
            if not chat.ended:
                details["activeLiveChatId"] = chat.chat_id
            return 200, {"kind": "youtube#videoListResponse", "items": [
                {"id": chat.video_id, "snippet": {"channelId": chat.channel, "title": "t"},
                 "liveStreamingDetails": details}]}  # fmt: skip
        if endpoint == "liveChat/messages":
            assert params.get("part") == "snippet,authorDetails"
            chat = next(
                (c for c in self.chats.values() if c.chat_id == params.get("liveChatId")), None
            )
            if chat is None:
                return 404, google_error(404, "liveChatNotFound", "No such live chat.")
            token = params.get("pageToken", "")
            self.tokens.append(token)
            if chat.ended:
                return 403, google_error(403, "liveChatEnded", "The chat is no longer live.")
            start = int(token.removeprefix("tok")) if token else 0
            items = chat.log[start:]
            return 200, {"kind": "youtube#liveChatMessageListResponse", "etag": "e",
                         "pollingIntervalMillis": chat.polling_ms,
                         "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
                         "nextPageToken": f"tok{len(chat.log)}", "items": items}  # fmt: skip
        return 404, google_error(404, "notFound", "Not Found", "global")

    # ------------------------------------------------------------------ scripting

    def go_live(self, channel: str, video_id: str, chat_id: str, *, handle: str | None = None,
                polling_ms: int = 0) -> Chat:  # fmt: skip
        with self.lock:
            chat = Chat(channel, video_id, chat_id, polling_ms=polling_ms)
            self.chats[video_id] = chat
            self.on_air[channel] = video_id
            if handle:
                self.handles[handle] = channel
        return chat

    def say(self, video_id: str, *messages: dict[str, Any]) -> None:
        with self.lock:
            self.chats[video_id].log.extend(messages)

    def end(self, video_id: str) -> None:
        with self.lock:
            chat = self.chats[video_id]
            chat.ended = True
            self.on_air.pop(chat.channel, None)

    def fail(self, *how: str) -> None:
        with self.lock:
            self.fail_next.extend(how)

    def count(self, endpoint: str) -> int:
        with self.lock:
            return sum(1 for e, _, _ in self.calls if e == endpoint)

    def start(self) -> DataApiFake:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()


def data_api() -> AbstractContextManager[DataApiFake]:
    return serving(DataApiFake())
