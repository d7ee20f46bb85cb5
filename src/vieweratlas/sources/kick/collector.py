"""``collect kick``: Kick chat → presence windows → the lake, by webhook or by Pusher.

Webhook (``kick.transport: webhook``, ``source=webhook``): a small ASGI receiver
(:mod:`vieweratlas.sources.kick.webhook`) verifies each delivery and records the sender in
the window of the message's time; a subscription manager keeps a ``chat.message.sent``
subscription for every watched channel (a channel list, or the current top live channels),
re-creating the ones Kick dropped and deleting those of channels no longer watched, every
``collect.refresh``. Kick delivers to the webhook
URL registered for the app, so the receiver must be reachable there (a reverse proxy or a
tunnel to ``kick.listen_host:kick.listen_port``).

Pusher (``kick.transport: pusher``, ``source=pusher``): the web client's websocket
(:mod:`vieweratlas.sources.kick.pusher`); needs neither credentials nor a public URL.

Both write like the Twitch collector: closed windows every ``collect.interval``, the open one
on SIGTERM/SIGINT or at the end; a killed collector loses only its open window and the lake
key makes a restart's rows de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import uvicorn

from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError, KickError, LakeError, VieweratlasError
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import CHANNELS, TS
from vieweratlas.platforms import KICK
from vieweratlas.sources.common.channels import FileChannelSource
from vieweratlas.sources.common.sink import (
    ChatStats,
    ChatStatus,
    WindowWriter,
    Written,
    run_collector,
    run_windows,
)
from vieweratlas.sources.common.windows import PresenceWindows, window_start
from vieweratlas.sources.kick.api import KickApi
from vieweratlas.sources.kick.models import ChatMessage, Livestream, parse_webhook_chat
from vieweratlas.sources.kick.pusher import PusherClient
from vieweratlas.sources.kick.webhook import (
    CHAT_EVENT,
    STATE_DIR,
    WEBHOOK_PATH,
    Delivery,
    SeenIds,
    Verifier,
    create_receiver,
    load_public_key,
)

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the collector owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class KickCollector:
    """One run of ``collect kick`` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        lake: Lake,
        *,
        channels_file: Path | None = None,
        top: int | None = None,
        now: Callable[[], datetime] = _utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        if (channels_file is None) == (top is None):
            raise ConfigError("collect kick needs --channels-file F or --top N (one of them)")
        self.settings = settings
        self.kick = settings.kick
        self.lake = lake
        self.channels_file = channels_file
        self.top = top
        self.now = now
        self.sock = sock
        self.mode = self.kick.transport
        interval = settings.collect.interval
        if interval.total_seconds() <= 0:
            raise ConfigError("collect.interval: must be longer than 0s")
        self.stats = ChatStats()
        self.windows = PresenceWindows(interval, platform="kick", source=self.mode)
        self.seen = SeenIds(self.kick.seen_ids)
        self.writer = WindowWriter(
            lake, self.windows, self.stats, now=now, after_write=self._save_seen
        )
        self.api = KickApi(settings, transport=transport)
        if top is not None and not self.api.has_credentials:
            raise ConfigError("collect kick --top needs kick.client_id and kick.client_secret")
        self.pusher: PusherClient | None = None
        self.channels: dict[str, int] = {}
        self.stop_event = asyncio.Event()
        self.url: str | None = None  # where the receiver listens, once started

    # ------------------------------------------------------------------ observations

    def record(self, message: ChatMessage, fallback: datetime) -> datetime:
        """Put ``message`` in its window (its own time when plausible); that window."""
        when = message.sent_at
        if when is None or abs(when - self.now()) > self.kick.max_age:
            when = fallback
        self.windows.message(when, message.channel, message.user, message.user_id)
        self.stats.messages += 1
        return window_start(when, self.windows.interval)

    def _pusher_message(self, message: ChatMessage) -> None:
        self.record(message, self.now())

    def accept(self, delivery: Delivery) -> ChatMessage | None:
        """A verified, new delivery: chat messages become presence; its id is remembered."""
        message = None
        window = window_start(delivery.timestamp, self.windows.interval)
        if delivery.event in ("", CHAT_EVENT):
            try:
                message = parse_webhook_chat(delivery.body)
            except KickError:
                self.stats.malformed += 1
                raise
            window = self.record(message, delivery.timestamp)
        self.seen.add(delivery.message_id, window)
        return message

    def _write_metadata(self, streams: list[Livestream]) -> None:
        """The listing's game, language, viewers and title into ``channels`` (labels use
        them), at the start of the current window."""
        if not streams:
            return
        ts = window_start(self.now(), self.windows.interval)
        n = len(streams)
        table = pa.table(
            {
                "ts": pa.array([ts] * n, TS),
                "channel": [s.slug for s in streams],
                "channel_id": [str(s.channel_id) if s.channel_id else None for s in streams],
                "display_name": pa.nulls(n, pa.string()),
                "game": [s.category.name if s.category else None for s in streams],
                "language": [s.language for s in streams],
                "viewers": pa.array([s.viewer_count for s in streams], pa.int64()),
                "title": [s.stream_title for s in streams],
                "platform": ["kick"] * n,
            }
        )
        try:
            self.lake.write("channels", table.select([*CHANNELS.schema.names, "platform"]))
        except (LakeError, OSError) as exc:
            log.warning("kick: channel metadata not written: %s", exc)

    def _save_seen(self, written: Written) -> None:
        if self.mode == "webhook":
            self.seen.save(self.lake, written.start)

    def status(self) -> ChatStatus:
        pusher = self.pusher
        return ChatStatus(
            what=f"kick {self.mode}",
            channels=len(self.channels),
            connected=int(pusher.connected) if pusher is not None else int(self.url is not None),
            messages=self.stats.messages,
            users_open_window=self.writer.open_users(),
            rejected=self.stats.rejected,
            malformed=self.stats.malformed,
            reconnects=self.stats.reconnects,
            windows_flushed=self.stats.windows_flushed,
            rows_written=self.stats.rows_written,
        )

    # ------------------------------------------------------------------ channels

    async def wanted(self) -> dict[str, int]:
        """Watched channels now: slug → broadcaster user id (0 when not needed/known)."""
        if self.top is not None:
            streams = await self.api.top_streams(self.top)
            await asyncio.to_thread(self._write_metadata, streams)
            return {s.slug: s.broadcaster_user_id for s in streams}
        assert self.channels_file is not None
        slugs = await FileChannelSource(self.channels_file, KICK).fetch()
        if self.mode == "webhook" and self.api.has_credentials:
            return await self.api.channels(slugs)
        return dict.fromkeys(slugs, 0)

    async def refresh(self) -> None:
        try:
            channels = await self.wanted()
            if self.mode == "webhook":
                if self.api.has_credentials:
                    await self.api.sync_subscriptions(channels.values())
            else:
                assert self.pusher is not None
                rooms: dict[int, str] = {}
                for slug in channels:
                    with contextlib.suppress(KickError):
                        rooms[await self.api.chatroom(slug)] = slug
                await self.pusher.want(rooms)
            self.channels = channels
        except VieweratlasError as exc:
            log.warning("kick: channel refresh failed, keeping the current list: %s", exc)

    async def _refresher(self) -> None:
        every = max(self.settings.collect.refresh.total_seconds(), 0.05)
        while not self.stop_event.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=every)

    # ------------------------------------------------------------------ running

    async def _start_receiver(self) -> _Server:
        pem = self.kick.public_key or await self.api.public_key()
        verifier = Verifier(load_public_key(pem), max_age=self.kick.max_age, now=self.now)
        since = window_start(self.now() - self.kick.max_age, self.windows.interval)
        loaded = await asyncio.to_thread(self.seen.load, self.lake, since)
        if loaded:
            log.info("kick: %d delivery ids read back from %s", loaded, STATE_DIR)
        app = create_receiver(verifier, self.seen, self.accept, self.stats)
        config = uvicorn.Config(
            app,
            host=self.kick.listen_host,
            port=self.kick.listen_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        self._serve = asyncio.create_task(server.serve([self.sock] if self.sock else None))
        while not server.started:
            if self._serve.done():
                self._serve.result()
                raise KickError("kick webhook receiver did not start")
            await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}{WEBHOOK_PATH}"
        log.info("kick webhook receiver listening on %s", self.url)
        return server

    async def run(self, duration: timedelta | None = None) -> ChatStats:
        server: _Server | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.mode == "webhook":
                server = await self._start_receiver()
            else:
                cs = self.settings.collect
                self.pusher = PusherClient(
                    self.kick.pusher_url,
                    self._pusher_message,
                    self.stats,
                    reconnect_min=cs.reconnect_min.total_seconds(),
                    reconnect_max=cs.reconnect_max.total_seconds(),
                    rng=random.Random(),
                )
                await self.refresh()
                tasks.append(asyncio.create_task(self.pusher.run(self.stop_event)))
            tasks.append(asyncio.create_task(self._refresher()))
            await run_windows(self.writer, self.stop_event, duration=duration)
        finally:
            self.stop_event.set()
            if server is not None:
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await self._serve
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.api.aclose()
            try:
                await self.writer.flush(everything=True)
            except (LakeError, OSError) as exc:
                raise LakeError(f"kick: could not write the open window: {exc}") from None
        return self.stats


async def run_kick(
    settings: Settings,
    *,
    channels_file: Path | None = None,
    top: int | None = None,
    duration: timedelta | None = None,
    on_status: Callable[[ChatStatus], None] | None = None,
    status_every: float = 1.0,
    handle_signals: bool = True,
) -> ChatStats:
    """Run ``collect kick`` into ``settings.lake`` until ``duration``, SIGTERM or SIGINT."""
    collector = KickCollector(
        settings, Lake.open(settings.lake), channels_file=channels_file, top=top
    )
    return await run_collector(
        collector, duration, on_status=on_status, every=status_every, handle_signals=handle_signals
    )


def seen_state(lake: Lake) -> list[str]:
    """Every delivery id the lake holds (for checks and tests)."""
    out: list[str] = []
    for rel in lake.list_files(STATE_DIR, suffix=".json"):
        out.extend(json.loads(lake.read_bytes(rel)))
    return out
