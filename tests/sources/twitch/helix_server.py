"""A loopback Twitch for tests: OAuth token endpoint, Helix and the GraphQL comments endpoint.

A real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1:0 in a thread) answering with the
documented response shapes. Tests fill in its data (streams, users, videos, chatters, VOD
comments) and queue faults per path (429 with ``Ratelimit-Reset``, 5xx, malformed JSON, a
revoked token) to see how the client copes. Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK-4f9a"
USER_TOKEN = "user-token-DO-NOT-LEAK-77c1"
MODERATOR = {"id": "9000", "login": "modbot", "display_name": "ModBot"}


@dataclass
class Fault:
    """One canned answer, used instead of the real one for the next request to a path."""

    status: int  # 0 lets the request through untouched (to fail a later one)
    body: bytes = b'{"error":"Internal Server Error","status":500,"message":""}'
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # answer this late (to trip a short client timeout)
    trickle: float = 0.0  # send the body one byte per this many seconds (a hostile server)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


def _cursor(n: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": n}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeTwitch:
    """State and behaviour of the fake; see the module docstring."""

    def __init__(self) -> None:
        self.streams: list[dict[str, Any]] = []  # sorted by viewers, most first
        self.users: dict[str, dict[str, Any]] = {}  # by login
        self.videos: dict[str, list[dict[str, Any]]] = {}  # by user_id, newest first
        self.chatters: dict[str, list[dict[str, Any]]] = {}  # by broadcaster id
        self.moderated: set[str] = set()  # broadcaster ids MODERATOR moderates
        self.comments: dict[str, list[dict[str, Any]]] = {}  # by video id, by offset
        self.stream_overlap = 5  # each streams page repeats this many of the previous
        self.gql_page = 3  # comments per GraphQL page
        self.gql_overlap = 1  # each GraphQL page repeats this many comments
        self.token_ttl = 3600
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[Request] = []
        self.valid_tokens: set[str] = set()
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -------------------------------------------------------------- data helpers

    def add_streams(self, n: int, *, start: int = 0) -> None:
        for i in range(start, start + n):
            login = f"chan{i:04d}"
            uid = str(100000 + i)
            self.users[login] = {
                "id": uid,
                "login": login,
                "display_name": login.upper(),
                "type": "",
                "broadcaster_type": "partner",
            }
            self.streams.append(
                {
                    "id": str(500000 + i),
                    "user_id": uid,
                    "user_login": login,
                    "user_name": login.upper(),
                    "game_id": "33214",
                    "game_name": ["Fortnite", "Just Chatting", "Minecraft"][i % 3],
                    "type": "live",
                    "title": f"stream {i} <b>&</b>",
                    "viewer_count": 100000 - i * 10,
                    "started_at": "2026-11-20T08:00:00Z",
                    "language": ["en", "de", "es"][i % 3],
                    "thumbnail_url": "https://example.invalid/{width}x{height}.jpg",
                    "tag_ids": [],
                    "tags": ["English"],
                    "is_mature": False,
                }
            )
        self.streams.sort(key=lambda s: -s["viewer_count"])

    def add_user(self, login: str, uid: str) -> None:
        self.users[login] = {"id": uid, "login": login, "display_name": login, "type": ""}

    def add_video(
        self, user_login: str, video_id: str, created: datetime, *, views: int, length_s: int
    ) -> None:
        user = self.users[user_login]
        h, rest = divmod(length_s, 3600)
        m, s = divmod(rest, 60)
        self.videos.setdefault(user["id"], []).append(
            {
                "id": video_id,
                "stream_id": None,
                "user_id": user["id"],
                "user_login": user_login,
                "user_name": user["display_name"],
                "title": "past broadcast",
                "description": "",
                "created_at": iso(created),
                "published_at": iso(created),
                "url": f"https://www.twitch.tv/videos/{video_id}",
                "thumbnail_url": "",
                "viewable": "public",
                "view_count": views,
                "language": "en",
                "type": "archive",
                "duration": f"{h}h{m}m{s}s",
                "muted_segments": None,
            }
        )
        self.videos[user["id"]].sort(key=lambda v: v["created_at"], reverse=True)

    def add_comments(self, video_id: str, comments: list[tuple[float, str | None]]) -> None:
        """(offset seconds, commenter login or None for a deleted account)."""
        nodes = self.comments.setdefault(video_id, [])
        for offset, login in comments:
            n = len(nodes)
            commenter = (
                None
                if login is None
                else {"id": f"u-{login}", "login": login, "displayName": login.title()}
            )
            nodes.append(
                {
                    "id": f"{video_id}-c{n}",
                    "commenter": commenter,
                    "contentOffsetSeconds": offset,
                    "createdAt": "2026-11-20T10:00:00Z",
                    "message": {"fragments": [{"text": "hi", "emote": None}], "userBadges": []},
                    "__typename": "VideoComment",
                }
            )
        nodes.sort(key=lambda c: c["contentOffsetSeconds"])

    def fail(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -------------------------------------------------------------- settings

    def env(self) -> dict[str, str]:
        """Environment pointing the product at this server."""
        return {
            "VIEWERATLAS_TWITCH__CLIENT_ID": CLIENT_ID,
            "VIEWERATLAS_TWITCH__CLIENT_SECRET": CLIENT_SECRET,
            "VIEWERATLAS_TWITCH__AUTH_URL": f"{self.url}/oauth2/token",
            "VIEWERATLAS_TWITCH__HELIX_URL": f"{self.url}/helix",
            "VIEWERATLAS_TWITCH__GQL_URL": f"{self.url}/gql",
        }

    def twitch_settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_url": f"{self.url}/oauth2/token",
            "helix_url": f"{self.url}/helix",
            "gql_url": f"{self.url}/gql",
            **extra,
        }

    # -------------------------------------------------------------- server

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(method, parts.path, parse_qs(parts.query), dict(h.headers.items()), body)
        with self._lock:
            self.requests.append(req)
            queue = self.faults.get(parts.path)
            fault = queue.pop(0) if queue else None
        if fault is not None and fault.status:  # status 0: answer this one normally
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.trickle:
                self._trickle(h, fault)
                return
            self._send(h, fault.status, fault.body, fault.headers)
            return
        try:
            status, payload = self._route(req)
        except Exception as exc:  # a bug in the fake: make it visible
            status, payload = 599, {"error": repr(exc)}
        self._send(h, status, json.dumps(payload).encode(), self._ratelimit())

    def _ratelimit(self) -> dict[str, str]:
        return {
            "Ratelimit-Limit": "800",
            "Ratelimit-Remaining": "799",
            "Ratelimit-Reset": str(int(time.time()) + 60),
        }

    @staticmethod
    def _trickle(h: BaseHTTPRequestHandler, fault: Fault) -> None:
        h.send_response(fault.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(fault.body)))
        h.end_headers()
        h.wfile.flush()
        try:
            for i in range(len(fault.body)):
                h.wfile.write(fault.body[i : i + 1])
                h.wfile.flush()
                time.sleep(fault.trickle)  # the hostile server's pace, not a wait in a test
        except OSError:  # the client gave up: what a deadline is for
            h.close_connection = True

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    # -------------------------------------------------------------- endpoints

    def _route(self, req: Request) -> tuple[int, Any]:
        if req.path == "/oauth2/token":
            return self._token(req)
        if req.path == "/gql":
            return self._gql(req)
        if req.path.startswith("/helix/"):
            if req.headers.get("Client-Id") != CLIENT_ID:
                return 401, {"error": "Unauthorized", "status": 401, "message": "bad client"}
            token = req.headers.get("Authorization", "").removeprefix("Bearer ")
            is_user = token == USER_TOKEN
            with self._lock:
                valid = is_user or token in self.valid_tokens
            if not valid:
                return 401, {"error": "Unauthorized", "status": 401, "message": "Invalid token"}
            name = req.path.removeprefix("/helix/")
            handler = {
                "streams": self._streams,
                "users": self._users,
                "videos": self._videos,
                "chat/chatters": self._chatters,
            }.get(name)
            if handler is None:
                return 404, {"error": "Not Found", "status": 404, "message": ""}
            return handler(req.query, is_user)
        return 404, {"error": "Not Found"}

    def _token(self, req: Request) -> tuple[int, Any]:
        form = parse_qs(req.body.decode())
        if (
            form.get("client_id") != [CLIENT_ID]
            or form.get("client_secret") != [CLIENT_SECRET]
            or form.get("grant_type") != ["client_credentials"]
        ):
            return 400, {"status": 400, "message": "invalid client secret"}
        with self._lock:
            self.tokens_issued += 1
            token = f"app-token-{self.tokens_issued}"
            self.valid_tokens.add(token)
        return 200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "bearer"}

    def _streams(self, q: dict[str, list[str]], is_user: bool) -> tuple[int, Any]:
        first = int(q.get("first", ["20"])[0])
        start = _offset(q.get("after", [None])[0])
        page = self.streams[start : start + first]
        nxt = start + first - self.stream_overlap  # the next page repeats some
        more = start + first < len(self.streams)
        return 200, {"data": page, "pagination": {"cursor": _cursor(nxt)} if more else {}}

    def _users(self, q: dict[str, list[str]], is_user: bool) -> tuple[int, Any]:
        logins = q.get("login", [])
        if not logins and not q.get("id"):
            if not is_user:
                return 400, {"error": "Bad Request", "status": 400, "message": "need a user"}
            return 200, {"data": [MODERATOR]}
        if len(logins) > 100:
            return 400, {"error": "Bad Request", "status": 400, "message": "too many"}
        return 200, {"data": [self.users[x] for x in logins if x in self.users]}

    def _videos(self, q: dict[str, list[str]], is_user: bool) -> tuple[int, Any]:
        videos = self.videos.get(q["user_id"][0], [])
        if q.get("type", ["all"])[0] not in ("archive", "all"):
            videos = []
        first = int(q.get("first", ["20"])[0])
        start = _offset(q.get("after", [None])[0])
        more = start + first < len(videos)
        page = videos[start : start + first]
        return 200, {"data": page, "pagination": {"cursor": _cursor(start + first)} if more else {}}

    def _chatters(self, q: dict[str, list[str]], is_user: bool) -> tuple[int, Any]:
        if not is_user:
            return 401, {"error": "Unauthorized", "status": 401, "message": "user token needed"}
        if q.get("moderator_id") != [MODERATOR["id"]]:
            return 400, {"error": "Bad Request", "status": 400, "message": "moderator_id"}
        bid = q["broadcaster_id"][0]
        if bid not in self.moderated:
            return 403, {
                "error": "Forbidden",
                "status": 403,
                "message": "The user in moderator_id is not one of the broadcaster's moderators",
            }
        everyone = self.chatters.get(bid, [])
        first = min(1000, int(q.get("first", ["100"])[0]))
        start = _offset(q.get("after", [None])[0])
        more = start + first < len(everyone)
        return 200, {
            "data": everyone[start : start + first],
            "pagination": {"cursor": _cursor(start + first)} if more else {},
            "total": len(everyone),
        }

    def _gql(self, req: Request) -> tuple[int, Any]:
        ops = json.loads(req.body)
        op = ops[0]
        assert op["operationName"] == "VideoCommentsByOffsetOrCursor"
        assert op["extensions"]["persistedQuery"]["sha256Hash"]
        v = op["variables"]
        video_id = v["videoID"]
        if video_id not in self.comments:
            return 200, [{"data": {"video": None}, "extensions": {}}]
        nodes = self.comments[video_id]
        if "cursor" in v:
            start = _offset(v["cursor"]) + 1 - self.gql_overlap
        else:
            offset = float(v.get("contentOffsetSeconds", 0))
            start = next(
                (i for i, c in enumerate(nodes) if c["contentOffsetSeconds"] >= offset), len(nodes)
            )
        page = nodes[start : start + self.gql_page]
        edges = [{"cursor": _cursor(start + i), "node": n} for i, n in enumerate(page)]
        more = start + self.gql_page < len(nodes)
        video = {
            "id": video_id,
            "creator": {"id": "1", "channel": {"id": "1"}},
            "comments": {
                "edges": edges,
                "pageInfo": {"hasNextPage": more, "hasPreviousPage": start > 0},
            },
        }
        return 200, [{"data": {"video": video}, "extensions": {"operationName": "x"}}]


class FakeClock:
    """A clock whose sleeps return at once and move its time forward."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def running() -> Iterator[FakeTwitch]:
    fake = FakeTwitch()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def recent(days: float, now: datetime | None = None) -> datetime:
    base = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    return base - timedelta(days=days)
