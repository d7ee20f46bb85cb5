"""Loopback stand-ins for Kick, speaking its real formats (KickDevDocs; the web client).

* :class:`KickApiFake`: the public API (OAuth client credentials, public key, channels,
  livestreams, event subscriptions that can be dropped) and the web channel API.
* :class:`WebhookSender`: signs ``chat.message.sent`` deliveries like Kick (RSA PKCS#1 v1.5 /
  SHA-256 over ``"{id}.{timestamp}.{body}"``), and can tamper with them.
* :class:`PusherFake`: a Pusher protocol 7 websocket server with ``chatrooms.<id>.v2``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from websockets.asyncio.server import ServerConnection, serve

from testkit import LoopbackHTTP, QuietHandler, reply, serving


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chat_body(channel: str, user: str, *, user_id: int = 1, sent: datetime | None = None,
              message_id: str | None = None, content: str = "hi") -> dict[str, Any]:  # fmt: skip
    """A ``chat.message.sent`` body shaped like KickDevDocs' example."""
    return {
        "message_id": message_id or uuid.uuid4().hex,
        "broadcaster": {"is_anonymous": False, "user_id": 1000 + len(channel),
                        "username": channel, "is_verified": True, "profile_picture": "",
                        "channel_slug": channel, "identity": None},
        "sender": {"is_anonymous": False, "user_id": user_id, "username": user,
                   "is_verified": False, "profile_picture": "", "channel_slug": user,
                   "identity": {"username_color": "#FF5733", "badges": []}},
        "content": content,
        "emotes": [],
        "created_at": rfc3339(sent) if sent else None,
    }  # fmt: skip


class WebhookSender:
    """Delivers webhooks to a receiver URL, signed with ``key``."""

    def __init__(self, url: str, key: rsa.RSAPrivateKey) -> None:
        self.url = url
        self.key = key
        self.client = httpx.Client(timeout=10)

    def sign(self, message_id: str, timestamp: str, body: bytes) -> str:
        payload = f"{message_id}.{timestamp}.".encode() + body
        return base64.b64encode(
            self.key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        ).decode()

    def deliver(self, body: dict[str, Any] | bytes, *, at: datetime, message_id: str | None = None,
                tamper: bool = False, event: str = "chat.message.sent",
                signature: str | None = None) -> httpx.Response:  # fmt: skip
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        message_id = message_id or uuid.uuid4().hex.upper()
        stamp = rfc3339(at)
        sig = self.sign(message_id, stamp, raw) if signature is None else signature
        if tamper:  # signed one body, send another
            raw = raw.replace(b'"hi"', b'"ha"').replace(b"alpha", b"gamma")
        headers = {
            "Kick-Event-Message-Id": message_id,
            "Kick-Event-Message-Timestamp": stamp,
            "Kick-Event-Signature": sig,
            "Kick-Event-Type": event,
            "Kick-Event-Version": "1",
            "Content-Type": "application/json",
        }
        if not sig:
            del headers["Kick-Event-Signature"]
        return self.client.post(self.url, content=raw, headers=headers)

    def close(self) -> None:
        self.client.close()


class KickApiFake:
    """The public API + web channel API on 127.0.0.1 (a thread)."""

    def __init__(self, public_key_pem: str, *, channels: dict[str, int] | None = None,
                 live: list[tuple[str, int, int]] | None = None) -> None:  # fmt: skip
        self.public_key_pem = public_key_pem
        self.channels = channels or {}  # slug → broadcaster id
        self.live = live or []  # (slug, broadcaster id, viewers)
        self.chatrooms: dict[str, int] = {s: 5000 + i for i, s in enumerate(self.channels)}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self.deleted: list[str] = []  # subscription ids, in the order deletions came
        self.tokens_issued = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def reply(self, status: int, data: object) -> None:
                reply(self, status, data)

            def authed(self) -> bool:
                if self.headers.get("Authorization", "").startswith("Bearer tok-"):
                    return True
                self.reply(401, {"message": "Unauthorized"})
                return False

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fake.requests.append("POST " + url.path)
                if url.path == "/oauth/token":
                    form = parse_qs(body.decode())
                    if form.get("grant_type") != ["client_credentials"] or form.get(
                        "client_secret"
                    ) != ["s3cret-kick"]:
                        return self.reply(401, {"message": "invalid client"})
                    fake.tokens_issued += 1
                    token = {"access_token": f"tok-{fake.tokens_issued}",
                             "token_type": "Bearer", "expires_in": 3600}  # fmt: skip
                    return self.reply(200, token)
                if url.path == "/public/v1/events/subscriptions" and self.authed():
                    data = json.loads(body)
                    with fake.lock:
                        fake.posts.append(data)
                        sid = uuid.uuid4().hex
                        fake.subscriptions[sid] = {
                            "id": sid, "app_id": "app", "broadcaster_user_id":
                            data["broadcaster_user_id"], "event": data["events"][0]["name"],
                            "version": 1, "method": data["method"],
                        }  # fmt: skip
                    made = [{"name": "chat.message.sent", "version": 1, "subscription_id": sid}]
                    return self.reply(200, {"data": made, "message": "OK"})
                return None

            def do_DELETE(self) -> None:
                url = urlparse(self.path)
                fake.requests.append("DELETE " + url.path)
                if url.path != "/public/v1/events/subscriptions":
                    return self.reply(404, {"message": "Not found"})
                if not self.authed():
                    return None
                ids = parse_qs(url.query).get("id", [])
                if not ids:
                    return self.reply(400, {"message": "id is required"})
                with fake.lock:
                    fake.deleted.extend(ids)
                    for sid in ids:
                        fake.subscriptions.pop(sid, None)
                return reply(self, 204, b"")

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                fake.requests.append("GET " + url.path)
                if url.path == "/public/v1/public-key":
                    return self.reply(200, {"data": {"public_key": fake.public_key_pem},
                                            "message": "OK"})  # fmt: skip
                if url.path.startswith("/api/v2/channels/"):
                    slug = url.path.rsplit("/", 1)[-1]
                    if slug not in fake.chatrooms:
                        return self.reply(404, {"message": "Not found"})
                    return self.reply(200, {"id": 1, "slug": slug, "user_id": 7,
                                            "chatroom": {"id": fake.chatrooms[slug]}})  # fmt: skip
                if not self.authed():
                    return None
                if url.path == "/public/v1/channels":
                    data = [{"broadcaster_user_id": fake.channels[s], "slug": s}
                            for s in query.get("slug", []) if s in fake.channels]  # fmt: skip
                    return self.reply(200, {"data": data, "message": "OK"})
                if url.path == "/public/v1/livestreams":
                    limit = int(query.get("limit", ["25"])[0])
                    page = int(query.get("page", ["1"])[0])
                    ranked = sorted(fake.live, key=lambda x: -x[2])
                    chunk = ranked[(page - 1) * limit : page * limit]
                    data = [
                        {"broadcaster_user_id": b, "slug": s, "channel_id": b + 1,
                         "viewer_count": v, "language": "en", "stream_title": "t",
                         "category": {"id": 15, "name": "Just Chatting"}}
                        for s, b, v in chunk
                    ]  # fmt: skip
                    return self.reply(200, {"data": data, "message": "OK"})
                if url.path == "/public/v1/events/subscriptions":
                    with fake.lock:
                        data = list(fake.subscriptions.values())
                    return self.reply(200, {"data": data, "message": "OK"})
                return self.reply(404, {"message": "Not found"})

        self.http = LoopbackHTTP(Handler)
        self.url = self.http.url

    def start(self) -> KickApiFake:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def drop_subscriptions(self) -> None:
        """What Kick does after a day of failed deliveries."""
        with self.lock:
            self.subscriptions.clear()

    def add_subscription(self, broadcaster: int, event: str = "chat.message.sent") -> str:
        """A subscription the app made earlier (another run, another channel list)."""
        with self.lock:
            sid = uuid.uuid4().hex
            self.subscriptions[sid] = {
                "id": sid, "app_id": "app", "event": event, "version": 1,
                "broadcaster_user_id": broadcaster, "method": "webhook",
            }  # fmt: skip
        return sid

    def set_live(self, live: list[tuple[str, int, int]]) -> None:
        with self.lock:
            self.live = live

    def subscribed(self) -> set[int]:
        with self.lock:
            return {s["broadcaster_user_id"] for s in self.subscriptions.values()}


class PusherFake:
    """A Pusher protocol 7 server on 127.0.0.1 (its own thread and event loop)."""

    def __init__(self, activity_timeout: int = 120) -> None:
        self.activity_timeout = activity_timeout
        self.loop = asyncio.new_event_loop()
        self.clients: dict[ServerConnection, set[str]] = {}
        self.connections = 0
        self.frames_in: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self._stop: asyncio.Future[None] | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = self.loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.ready.set()
            await self._stop

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.clients[ws] = set()
        info = {"socket_id": f"{self.connections}.1", "activity_timeout": self.activity_timeout}
        await ws.send(
            json.dumps({"event": "pusher:connection_established", "data": json.dumps(info)})
        )
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames_in.append(frame)
                if frame.get("event") == "pusher:subscribe":
                    channel = frame["data"]["channel"]
                    self.clients[ws].add(channel)
                    await ws.send(json.dumps({"event": "pusher_internal:subscription_succeeded",
                                              "data": "{}", "channel": channel}))  # fmt: skip
                elif frame.get("event") == "pusher:ping":
                    await ws.send(json.dumps({"event": "pusher:pong", "data": "{}"}))
        except Exception:  # a dropped client is normal here
            pass
        finally:
            self.clients.pop(ws, None)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/app/testkey?protocol=7&client=js&version=8.4.0"

    def start(self) -> PusherFake:
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(10)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def subscribed(self, chatroom: int) -> bool:
        return any(f"chatrooms.{chatroom}.v2" in chans for chans in list(self.clients.values()))

    def chat(self, chatroom: int, user: str, *, user_id: int = 1, message_id: str = "m") -> None:
        data = {"id": message_id, "chatroom_id": chatroom, "content": "hi", "type": "message",
                "created_at": rfc3339(datetime.now(UTC)),
                "sender": {"id": user_id, "username": user, "slug": user,
                           "identity": {"color": "#fff", "badges": []}}}  # fmt: skip
        frame = {"event": "App\\Events\\ChatMessageEvent", "data": json.dumps(data),
                 "channel": f"chatrooms.{chatroom}.v2"}  # fmt: skip
        self.send_raw(json.dumps(frame), chatroom)

    def send_raw(self, text: str, chatroom: int | None = None) -> None:
        async def go() -> None:
            for ws, chans in list(self.clients.items()):
                if chatroom is None or f"chatrooms.{chatroom}.v2" in chans:
                    await ws.send(text)

        self._call(go())

    def ping(self) -> None:
        self.send_raw(json.dumps({"event": "pusher:ping", "data": {}}))

    def drop_all(self) -> None:
        async def go() -> None:
            for ws in list(self.clients):
                await ws.close(code=4200, reason="reconnect")

        self._call(go())


def kick_api(pem: str, **kwargs: Any) -> AbstractContextManager[KickApiFake]:
    return serving(KickApiFake(pem, **kwargs))
