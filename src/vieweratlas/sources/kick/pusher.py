"""Kick chat over Pusher (protocol 7), the websocket the Kick web client reads chat from.

No public URL and no credentials are needed. The client connects to ``kick.pusher_url``,
waits for ``pusher:connection_established`` (its ``activity_timeout`` says how long silence
may last), sends ``pusher:subscribe`` for ``chatrooms.<chatroom id>.v2`` of every watched
channel, answers ``pusher:ping`` with ``pusher:pong`` (and pings itself after a silence),
and turns each ``App\\Events\\ChatMessageEvent`` (``data`` a JSON *string*) into a chat
message. A malformed frame is counted and logged once per kind, never fatal; a dropped
connection is re-opened with exponential backoff and jitter, and every room re-subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable

import websockets
from websockets.asyncio.client import ClientConnection, connect

from vieweratlas.errors import KickError
from vieweratlas.sources.common.sink import ChatStats
from vieweratlas.sources.kick.models import (
    MAX_FRAME,
    ChatMessage,
    frame_data,
    parse_pusher_chat,
    parse_pusher_frame,
)

log = logging.getLogger(__name__)

CHAT_EVENT = "App\\Events\\ChatMessageEvent"
PONG_TIMEOUT = 30.0


def room_channel(chatroom_id: int) -> str:
    return f"chatrooms.{chatroom_id}.v2"


class PusherClient:
    """One Pusher connection following ``rooms`` (chatroom id → channel slug)."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[ChatMessage], None],
        stats: ChatStats,
        *,
        reconnect_min: float = 1.0,
        reconnect_max: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.on_message = on_message
        self.stats = stats
        self.reconnect_min = reconnect_min
        self.reconnect_max = max(reconnect_max, reconnect_min)
        self.rng = rng or random.Random()
        self.rooms: dict[str, str] = {}  # pusher channel → slug
        self.subscribed: set[str] = set()
        self.connected = False
        self._ws: ClientConnection | None = None
        self._logged: set[str] = set()

    # ------------------------------------------------------------------ rooms

    async def want(self, rooms: dict[int, str]) -> None:
        """Follow exactly ``rooms`` (subscribing/unsubscribing on a live connection)."""
        new = {room_channel(cid): slug for cid, slug in rooms.items()}
        gone = set(self.rooms) - set(new)
        added = set(new) - set(self.rooms)
        self.rooms = new
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(websockets.ConnectionClosed):
            for channel in sorted(gone):
                await self._send(ws, "pusher:unsubscribe", {"channel": channel})
                self.subscribed.discard(channel)
            for channel in sorted(added):
                await self._send(ws, "pusher:subscribe", {"auth": "", "channel": channel})

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set."""
        delay = self.reconnect_min
        first = True
        while not stop.is_set():
            if not first:
                self.stats.reconnects += 1
                wait = delay * (0.5 + self.rng.random())
                log.info("pusher: reconnecting in %.1f s", wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                if stop.is_set():
                    return
                delay = min(delay * 2, self.reconnect_max)
            first = False
            try:
                got_frames = await self._session(stop)
            except (OSError, TimeoutError, websockets.WebSocketException, KickError) as exc:
                log.warning("pusher: connection lost: %s", type(exc).__name__ + f": {exc}"[:120])
                got_frames = False
            finally:
                self.connected = False
                self._ws = None
                self.subscribed.clear()
            if got_frames:
                delay = self.reconnect_min

    async def _session(self, stop: asyncio.Event) -> bool:
        async with connect(
            self.url, max_size=MAX_FRAME, open_timeout=15, ping_interval=None, close_timeout=2
        ) as ws:
            first = parse_pusher_frame(await asyncio.wait_for(ws.recv(), timeout=15))
            if first.event != "pusher:connection_established":
                raise KickError(f"pusher: expected connection_established, got {first.event!r}")
            info = frame_data(first)
            timeout = info.get("activity_timeout")
            activity = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 120
            self._ws = ws
            self.connected = True
            for channel in sorted(self.rooms):
                await self._send(ws, "pusher:subscribe", {"auth": "", "channel": channel})
            stopper = asyncio.create_task(stop.wait())
            try:
                await self._read(ws, stopper, activity)
            finally:
                stopper.cancel()
            return True

    async def _read(
        self, ws: ClientConnection, stopper: asyncio.Task[bool], activity: float
    ) -> None:
        pinged = False
        while True:
            recv = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait(
                {recv, stopper},
                timeout=PONG_TIMEOUT if pinged else activity,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stopper in done:
                recv.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                    await recv
                return
            if not done:
                recv.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                    await recv
                if pinged:
                    raise TimeoutError("pusher: no answer to ping")
                await self._send(ws, "pusher:ping", {})
                pinged = True
                continue
            pinged = False
            await self._handle(ws, recv.result())

    async def _handle(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = parse_pusher_frame(raw)
            if frame.event == "pusher:ping":
                await self._send(ws, "pusher:pong", {})
            elif frame.event == "pusher_internal:subscription_succeeded":
                if frame.channel:
                    self.subscribed.add(frame.channel)
            elif frame.event == "pusher:error":
                log.warning("pusher: server error %.200s", json.dumps(frame.data))
            elif frame.event == CHAT_EVENT:
                slug = self.rooms.get(frame.channel or "")
                if slug is None:
                    return  # a room we just left
                self.on_message(parse_pusher_chat(frame, slug))
        except KickError as exc:
            self.stats.malformed += 1
            kind = str(exc).split(":", 1)[0]
            if kind not in self._logged:
                self._logged.add(kind)
                log.warning("pusher: unusable frame (logged once per kind): %s", exc)

    @staticmethod
    async def _send(ws: ClientConnection, event: str, data: object) -> None:
        await ws.send(json.dumps({"event": event, "data": data}))
