"""A loopback YouTube: watch pages and live-chat continuations shaped like the web client's
(the shapes xenova/chat-downloader and pytchat read), scriptable by the tests."""

from __future__ import annotations

import json
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from testkit import LoopbackHTTP, QuietHandler, reply, serving

API_KEY = "AIzaFakeKey_123"


def uc(n: int) -> str:
    """A valid channel id, mixed case on purpose (YouTube ids are case-sensitive)."""
    return "UC" + f"Ab{n:020d}"[-22:]


@dataclass
class Stream:
    video_id: str
    channel_id: str
    live: bool = True
    start: datetime | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # actions not served yet
    replay_pages: list[list[dict[str, Any]]] = field(default_factory=list)
    generation: int = 0  # bumped by a page read: older continuations die when killed
    dead_before: int = 0  # continuations of generations below this answer 404
    timeout_ms: int = 20


def text_action(author: str, ts_us: int, name: str = "someone") -> dict[str, Any]:
    return {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {
        "message": {"runs": [{"text": "hello"}]}, "authorName": {"simpleText": name},
        "authorPhoto": {"thumbnails": []}, "id": f"id{ts_us}{author}",
        "timestampUsec": str(ts_us), "authorExternalChannelId": author,
        "contextMenuEndpoint": {"liveChatItemContextMenuEndpoint": {"params": "x"}}}},
        "clientId": "client"}}  # fmt: skip


def replay_action(author: str, offset_ms: int) -> dict[str, Any]:
    return {"replayChatItemAction": {"actions": [text_action(author, 0)],
                                     "videoOffsetTimeMsec": str(offset_ms)}}  # fmt: skip


class YouTubeFake:
    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.handles: dict[str, str] = {}  # @handle or UC id → video id on air
        self.page_reads = 0
        self.polls = 0
        self.served = 0  # chat actions handed out
        self.fail_next: list[str] = []  # "500", "garbage", "no_contents"
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def send(self, status: int, body: bytes, ctype: str) -> None:
                reply(self, status, body, ctype)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                video = None
                if url.path == "/watch":
                    video = parse_qs(url.query).get("v", [""])[0]
                elif url.path.endswith("/live"):
                    who = url.path.removesuffix("/live").rsplit("/", 1)[-1]
                    video = fake.handles.get(who)
                with fake.lock:
                    stream = fake.streams.get(video or "")
                    fake.page_reads += 1
                    if stream is None:
                        return self.send(200, b"<html>no stream</html>", "text/html")
                    stream.generation += 1
                    html = fake.watch_html(stream)
                self.send(200, html.encode(), "text/html; charset=utf-8")

            def do_POST(self) -> None:
                url = urlparse(self.path)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if parse_qs(url.query).get("key") != [API_KEY]:
                    return self.send(403, b'{"error": "key"}', "application/json")
                token = body.get("continuation", "")
                with fake.lock:
                    fake.polls += 1
                    if fake.fail_next:
                        failure = fake.fail_next.pop(0)
                        if failure == "500":
                            return self.send(500, b"{}", "application/json")
                        if failure == "garbage":
                            return self.send(200, b"<html>oops", "text/html")
                        return self.send(200, b'{"responseContext": {}}', "application/json")
                    try:
                        _, video, gen, n = token.split(":")
                        stream = fake.streams[video]
                        int(gen), int(n)
                    except (ValueError, KeyError):
                        return self.send(400, b'{"error": "bad continuation"}', "application/json")
                    if url.path.endswith("get_live_chat_replay"):
                        page = int(n)
                        actions = (
                            stream.replay_pages[page] if page < len(stream.replay_pages) else []
                        )
                        nxt = f"r:{video}:{gen}:{page + 1}" if actions else None
                        fake.served += len(actions)
                        data = fake.chat_answer(actions, nxt, replay=True, timeout=None)
                    else:
                        if int(gen) < stream.dead_before:
                            return self.send(404, b'{"error": "gone"}', "application/json")
                        actions, stream.pending = stream.pending, []
                        fake.served += len(actions)
                        nxt = f"c:{video}:{gen}:{int(n) + 1}"
                        data = fake.chat_answer(
                            actions, nxt, replay=False, timeout=stream.timeout_ms
                        )
                self.send(200, json.dumps(data).encode(), "application/json")

        self.http = LoopbackHTTP(Handler)
        self.url = self.http.url

    # ------------------------------------------------------------------ shapes

    def watch_html(self, s: Stream) -> str:
        prefix = "r" if not s.live else "c"
        token = f"{prefix}:{s.video_id}:{s.generation}:0"
        player = {
            "videoDetails": {"videoId": s.video_id, "channelId": s.channel_id,
                             "isLive": s.live, "isLiveContent": True, "title": "stream"},
            "microformat": {"playerMicroformatRenderer": {"liveBroadcastDetails": {
                "isLiveNow": s.live,
                "startTimestamp": s.start.isoformat() if s.start else None}}},
        }  # fmt: skip
        views = (("Top chat", "top"), ("Live chat", ""))
        menu = [{"title": title, "selected": i == 0,
                 "continuation": {"reloadContinuationData": {"continuation": token + tag}}}
                for i, (title, tag) in enumerate(views)]  # fmt: skip
        # the "top" variant is deliberately unusable: the collector must pick "Live chat"
        initial = {"contents": {"twoColumnWatchNextResults": {"conversationBar": {
            "liveChatRenderer": {
                "continuations": [{"reloadContinuationData": {"continuation": token + "top"}}],
                "header": {"liveChatHeaderRenderer": {"viewSelector": {
                    "sortFilterSubMenuRenderer": {"subMenuItems": menu}}}},
                "isReplay": not s.live}}}}}  # fmt: skip
        client = {"clientName": "WEB", "clientVersion": "2.2025"}
        cfg = {"INNERTUBE_API_KEY": API_KEY, "INNERTUBE_CONTEXT": {"client": client}}
        return (
            '<!DOCTYPE html><html><head><script>ytcfg.set({"EXPERIMENT": 1});'
            f"ytcfg.set({json.dumps(cfg)});</script></head><body><script>"
            f"var ytInitialPlayerResponse = {json.dumps(player)};var meta = 1;</script>"
            f'<script>window["ytInitialData"] = {json.dumps(initial)};</script></body></html>'
        )

    @staticmethod
    def chat_answer(actions: list[dict[str, Any]], nxt: str | None, *, replay: bool,
                    timeout: int | None) -> dict[str, Any]:  # fmt: skip
        conts: list[dict[str, Any]] = []
        if nxt is not None:
            if replay:
                conts = [{"liveChatReplayContinuationData": {"continuation": nxt,
                                                             "timeUntilLastMessageMsec": 0}},
                         {"playerSeekContinuationData": {"continuation": "seek"}}]  # fmt: skip
            else:
                conts = [{"invalidationContinuationData": {
                    "invalidationId": {"objectSource": 1056, "topic": "chat~x"},
                    "timeoutMs": timeout, "continuation": nxt}}]  # fmt: skip
        return {"responseContext": {"serviceTrackingParams": []},
                "continuationContents": {"liveChatContinuation": {
                    "continuations": conts, "actions": actions}}}  # fmt: skip

    # ------------------------------------------------------------------ scripting

    def add(self, stream: Stream, *aliases: str) -> Stream:
        with self.lock:
            self.streams[stream.video_id] = stream
            for alias in aliases:
                self.handles[alias] = stream.video_id
        return stream

    def say(self, video: str, *actions: dict[str, Any]) -> None:
        with self.lock:
            self.streams[video].pending.extend(actions)

    def kill_continuations(self, video: str) -> None:
        with self.lock:
            s = self.streams[video]
            s.dead_before = s.generation + 1

    def fail(self, *how: str) -> None:
        with self.lock:
            self.fail_next.extend(how)

    def start(self) -> YouTubeFake:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()


def youtube() -> AbstractContextManager[YouTubeFake]:
    return serving(YouTubeFake())
