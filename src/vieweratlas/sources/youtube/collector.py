"""``collect youtube``: YouTube live chat → presence (``platform=youtube``, ``source=innertube``).

Each target (a channel's ``/@handle/live`` or ``/channel/UC…/live`` page, or a video's
``/watch?v=…``) is followed by one task:

* read the page (:func:`~vieweratlas.sources.youtube.innertube.parse_watch_page`); no live
  chat yet → wait ``collect.refresh`` and read it again;
* live: poll ``get_live_chat`` with the current continuation, waiting the server's
  ``timeoutMs`` hint clamped to ``youtube.min_poll``…``youtube.max_poll`` (chat-downloader's
  observation: a longer wait on busy chats loses messages); authors go into the presence
  window of their message's time. A failed poll backs off exponentially
  (``collect.reconnect_min``…``reconnect_max``); a continuation that dies (error status,
  unusable answer, none returned) makes the task read the page again for a fresh one;
* finished stream with ``--replay``: page through ``get_live_chat_replay`` and bucket the
  authors by ``videoOffsetTimeMsec`` from the stream's start (``youtube.bucket_len``), like
  Twitch VOD replay; written as one batch (the lake key makes a re-run a no-op).

With ``youtube.method: api`` (``--method api``) the official Data API v3 is used instead
(:mod:`vieweratlas.sources.youtube.dataapi`; ``source=api``): a channel's live video from
``search`` (100 quota units), its ``activeLiveChatId`` from ``videos`` (1), then
``liveChat/messages`` (5 a call) page by page, waiting ``pollingIntervalMillis`` (at least
``youtube.min_poll``) between calls. Before a call would pass ``youtube.api_quota`` units
in a day, or when Google answers ``quotaExceeded``, the collector logs one line and stops
cleanly (the open window is written); a refused key stops it with a one-line error.

Unknown shapes are counted (``malformed``) and logged once per kind with a short sample.
Windows are written like every live collector (closed ones every ``collect.interval``, the
open one on SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa

from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError, LakeError, YouTubeError
from vieweratlas.lake import Lake
from vieweratlas.platforms import YOUTUBE
from vieweratlas.sources.common.buckets import bucket_comments
from vieweratlas.sources.common.channels import FileChannelSource
from vieweratlas.sources.common.http import RetryPolicy, Transport
from vieweratlas.sources.common.sink import (
    ChatStats,
    ChatStatus,
    WindowWriter,
    run_collector,
    run_windows,
)
from vieweratlas.sources.common.windows import PresenceWindows
from vieweratlas.sources.youtube.dataapi import (
    ApiRefused,
    ChatGone,
    DataApi,
    LiveVideo,
    MalformedAnswer,
    QuotaExhausted,
)
from vieweratlas.sources.youtube.innertube import (
    VIDEO_ID,
    ChatItem,
    ChatPage,
    WatchPage,
    parse_chat_page,
    parse_watch_page,
)

log = logging.getLogger(__name__)

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"
MAX_REPLAY_ITEMS = 5_000_000  # one stream's replay kept in memory at most


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Target:
    """Something to follow: a channel's live page or one video."""

    name: str  # for logs
    path: str  # page path below youtube.base_url
    video: bool


def channel_target(name: str) -> Target:
    """A channel id (``UC…``) or handle (``@name``), checked with the YouTube rule."""
    ch = YOUTUBE.normalize(name)
    if ch is None:
        raise ConfigError(f"not a YouTube channel id or @handle: {name[:40]!r}")
    path = f"/{ch}/live" if ch.startswith("@") else f"/channel/{ch}/live"
    return Target(ch, path, video=False)


def video_target(video_id: str) -> Target:
    if not VIDEO_ID.fullmatch(video_id):
        raise ConfigError(f"--video: not a YouTube video id: {video_id[:40]!r}")
    return Target(video_id, f"/watch?v={video_id}", video=True)


class ContinuationDied(YouTubeError):
    """The live-chat continuation stopped working: read the page again."""


class YouTubeCollector:
    """One run of ``collect youtube`` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        lake: Lake,
        targets: list[Target],
        *,
        replay: bool = False,
        now: Callable[[], datetime] = _utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        yt, cs = settings.youtube, settings.collect
        if cs.interval.total_seconds() <= 0:
            raise ConfigError("collect.interval: must be longer than 0s")
        self.settings = settings
        self.base = yt.base_url.rstrip("/")
        self.lake = lake
        self.targets = targets
        self.replay = replay
        self.method = yt.method
        if replay and self.method == "api":
            raise ConfigError("collect youtube --replay reads chat replay: use --method innertube")
        self.now = now
        self.min_poll = yt.min_poll.total_seconds()
        self.max_poll = max(yt.max_poll.total_seconds(), self.min_poll)
        self.backoff_min = max(cs.reconnect_min.total_seconds(), 0.01)
        self.backoff_max = max(cs.reconnect_max.total_seconds(), self.backoff_min)
        self.refresh = max(cs.refresh.total_seconds(), 0.05)
        self.stats = ChatStats()
        self.windows = PresenceWindows(cs.interval, platform="youtube", source=self.method)
        self.writer = WindowWriter(lake, self.windows, self.stats, now=now)
        self.http = Transport(
            transport=transport,
            error=YouTubeError,
            user_agent=BROWSER_UA,
            policy=RetryPolicy(attempts=2, backoff=self.backoff_min, max_wait=self.backoff_max),
        )
        policy = RetryPolicy(attempts=2, backoff=self.backoff_min, max_wait=self.backoff_max)
        self.api = (
            DataApi(settings, transport=transport, policy=policy, now=now)
            if self.method == "api"
            else None
        )
        self.halted: str | None = None  # why the run stopped by itself (quota)
        self.stop_event = asyncio.Event()
        self.live: set[str] = set()  # targets with a working continuation
        self.replayed: list[str] = []
        self._logged: set[str] = set()
        self._channels: dict[str, str] = {}  # handle → channel id (Data API)

    # ------------------------------------------------------------------ helpers

    async def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(seconds, 0.0))
        return self.stop_event.is_set()

    def _note_unknown(self, page: ChatPage, what: str) -> None:
        self.stats.malformed += page.unknown_count
        for kind, text in page.unknown.items():
            self._warn_once(kind, "%s: unknown shape %s (logged once), sample: %s", what, kind,
                            text)  # fmt: skip

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(message, *args)

    def _record(self, channel: str, items: list[ChatItem]) -> None:
        """Authors into the window of their message's time (now when implausible)."""
        now = self.now()
        for item in items:
            when = now
            if item.sent_us is not None:
                sent = datetime.fromtimestamp(item.sent_us / 1e6, tz=UTC)
                if abs(sent - now) <= timedelta(minutes=10):
                    when = sent
            self.windows.message(when, channel, item.user, item.user)
            self.stats.messages += 1

    async def _page(self, target: Target) -> WatchPage:
        url = self.base + target.path
        what = f"youtube page {target.name}"
        response = await self.http.send(
            what,
            lambda: self.http.client.build_request(
                "GET", url, headers={"Accept-Language": "en-US,en"}
            ),
        )
        if response.status_code >= 400:
            raise YouTubeError(f"{what}: HTTP {response.status_code}")
        return parse_watch_page(response.text, what)

    async def _chat(self, page: WatchPage, continuation: str, *, replay: bool) -> ChatPage:
        endpoint = "get_live_chat_replay" if replay else "get_live_chat"
        url = f"{self.base}/youtubei/v1/live_chat/{endpoint}"
        params = {"prettyPrint": "false"} | ({"key": page.api_key} if page.api_key else {})
        body = {"context": page.context, "continuation": continuation}
        what = f"youtube {endpoint} {page.video_id}"
        response = await self.http.send(
            what, lambda: self.http.client.build_request("POST", url, params=params, json=body)
        )
        if response.status_code >= 400:
            raise ContinuationDied(f"{what}: HTTP {response.status_code}")
        try:
            data = response.json()
        except (ValueError, RecursionError):
            raise ContinuationDied(f"{what}: answer is not JSON") from None
        try:
            chat = parse_chat_page(data, what)
        except YouTubeError as exc:
            self.stats.malformed += 1
            raise ContinuationDied(str(exc)) from None
        self._note_unknown(chat, what)
        return chat

    # ------------------------------------------------------------------ following

    async def follow(self, target: Target) -> None:
        """Follow one target until stopped (or its replay is done)."""
        if self.api is not None:
            try:
                await self._follow_api(target, self.api)
            except QuotaExhausted as exc:
                self._halt("quota exhausted", exc)
            except ApiRefused:
                self.stop_event.set()  # the key is wrong for every target
                raise
            return
        backoff = self.backoff_min
        while not self.stop_event.is_set():
            try:
                page = await self._page(target)
            except YouTubeError as exc:
                log.info("%s: %s; looking again in %.0f s", target.name, exc, self.refresh)
                if await self._wait(self.refresh):
                    return
                continue
            if page.is_replay or not page.is_live:
                if target.video and self.replay:
                    await self.replay_chat(page)
                    return
                log.info("%s: stream %s is not live", target.name, page.video_id)
                if target.video or await self._wait(self.refresh):
                    return
                continue
            try:
                await self._poll(target, page)
                backoff = self.backoff_min
            except ContinuationDied as exc:
                log.info("%s: continuation died (%s); re-reading the page", target.name, exc)
                self.stats.reconnects += 1
                if await self._wait(backoff):
                    return
                backoff = min(backoff * 2, self.backoff_max)
            finally:
                self.live.discard(target.name)

    async def _poll(self, target: Target, page: WatchPage) -> None:
        continuation = page.continuation
        failures = 0
        self.live.add(target.name)
        while not self.stop_event.is_set():
            try:
                chat = await self._chat(page, continuation, replay=False)
            except ContinuationDied:
                raise
            except YouTubeError as exc:  # transport trouble: back off, same continuation
                failures += 1
                if failures >= 4:
                    raise ContinuationDied(str(exc)) from None
                if await self._wait(min(self.backoff_min * 2**failures, self.backoff_max)):
                    return
                continue
            failures = 0
            self._record(page.channel, chat.items)
            if chat.continuation is None:
                raise ContinuationDied("the answer carried no next continuation")
            continuation = chat.continuation
            hint = (chat.timeout_ms or 0) / 1000
            if await self._wait(min(max(hint, self.min_poll), self.max_poll)):
                return

    # ------------------------------------------------------------------ the Data API

    def _halt(self, why: str, exc: Exception) -> None:
        if self.halted is None:
            self.halted = why
            log.warning("youtube api: %s; stopping (the open window is written)", exc)
        self.stop_event.set()

    async def _find_live(self, target: Target, api: DataApi) -> LiveVideo | None:
        """The target's live video now (None when not live); the channel id is cached."""
        video_id: str | None = target.name
        if not target.video:
            channel = self._channels.get(target.name)
            if channel is None:
                channel = target.name
                if target.name.startswith("@"):
                    found = await api.channel_id(target.name)
                    if found is None:
                        raise ChatGone(f"{target.name}: no such YouTube handle")
                    channel = found
                self._channels[target.name] = channel
            video_id = await api.live_video(channel)
        return await api.video(video_id) if video_id else None

    async def _follow_api(self, target: Target, api: DataApi) -> None:
        backoff = self.backoff_min
        while not self.stop_event.is_set():
            try:
                live = await self._find_live(target, api)
                if live is None or live.chat_id is None:
                    raise ChatGone(f"{target.name}: not live (no active live chat)")
                await self._poll_api(live, live.chat_id, api, target)
                backoff = self.backoff_min
            except MalformedAnswer as exc:
                self.stats.malformed += 1
                self._warn_once("api " + str(exc)[:40], "%s (logged once)", exc)
            except ChatGone as exc:
                log.info("%s: %s", target.name, exc)
                if target.video:
                    return
                backoff = self.refresh  # a channel is looked at again (100 units) later
            except (QuotaExhausted, ApiRefused):
                raise
            except YouTubeError as exc:
                log.info("%s: %s; trying again in %.1f s", target.name, exc, backoff)
                self.stats.reconnects += 1
            if await self._wait(backoff):
                return
            backoff = min(max(backoff * 2, self.backoff_min), max(self.backoff_max, backoff))

    async def _poll_api(self, live: LiveVideo, chat_id: str, api: DataApi, target: Target) -> None:
        token: str | None = None
        failures = 0
        self.live.add(target.name)
        try:
            while not self.stop_event.is_set():
                try:
                    page = await api.messages(chat_id, token)
                except MalformedAnswer as exc:
                    self.stats.malformed += 1
                    self._warn_once("api messages", "%s (logged once)", exc)
                    failures += 1
                except (QuotaExhausted, ApiRefused, ChatGone):
                    raise
                except YouTubeError as exc:
                    log.info("%s: %s", target.name, exc)
                    failures += 1
                else:
                    failures = 0
                    self._note_unknown(page, "youtube api liveChat/messages")
                    self._record(live.channel, page.items)
                    if page.continuation is None:
                        raise ChatGone(f"{target.name}: no nextPageToken, the chat is over")
                    token = page.continuation
                    wait = max((page.timeout_ms or 0) / 1000, self.min_poll)
                    if await self._wait(wait):
                        return
                    continue
                if failures >= 4:
                    raise YouTubeError(f"{target.name}: {failures} failed polls in a row")
                if await self._wait(min(self.backoff_min * 2**failures, self.backoff_max)):
                    return
        finally:
            self.live.discard(target.name)

    # ------------------------------------------------------------------ replay

    async def replay_chat(self, page: WatchPage) -> int:
        """Bucket a finished stream's chat replay into presence; rows written."""
        if page.started_at is None:
            log.warning("%s: no start time on the page; replay skipped", page.video_id)
            return 0
        offsets: list[int] = []
        users: list[str] = []
        continuation: str | None = page.continuation
        while continuation and not self.stop_event.is_set() and len(users) < MAX_REPLAY_ITEMS:
            try:
                chat = await self._chat(page, continuation, replay=True)
            except YouTubeError as exc:
                log.warning("%s: replay stopped early: %s", page.video_id, exc)
                break
            for item in chat.items:
                offsets.append(item.offset_ms or 0)
                users.append(item.user)
            if not chat.items:
                break
            continuation = chat.continuation
        self.stats.messages += len(users)
        if not users:
            return 0
        table = bucket_comments(
            channel=page.channel,
            start=page.started_at,
            offsets_s=np.asarray(offsets, dtype=np.float64) / 1000.0,
            users=pa.array(users, pa.string()),
            user_ids=pa.array(users, pa.string()),
            bucket_len=self.settings.youtube.bucket_len,
            source="innertube",
            platform="youtube",
        )
        result = await asyncio.to_thread(self.lake.write, "presence", table)
        self.stats.rows_written += result.rows_written
        self.replayed.append(page.video_id)
        log.info("%s: replay of %d messages → %d new rows", page.video_id, len(users),
                 result.rows_written)  # fmt: skip
        return result.rows_written

    # ------------------------------------------------------------------ running

    def status(self) -> ChatStatus:
        what = "youtube"
        if self.api is not None:
            quota = self.api.quota
            what = f"youtube api, quota {quota.used:,}/{quota.budget:,}"
            if self.halted:
                what += f", stopped: {self.halted}"
        return ChatStatus(
            what=what,
            channels=len(self.targets),
            connected=len(self.live),
            messages=self.stats.messages,
            users_open_window=self.writer.open_users(),
            rejected=0,
            malformed=self.stats.malformed,
            reconnects=self.stats.reconnects,
            windows_flushed=self.stats.windows_flushed,
            rows_written=self.stats.rows_written,
        )

    async def run(self, duration: timedelta | None = None) -> ChatStats:
        tasks = [asyncio.create_task(self.follow(t)) for t in self.targets]

        def all_done() -> None:
            if tasks and all(t.done() for t in tasks):
                self.stop_event.set()

        for task in tasks:
            task.add_done_callback(lambda _t: all_done())
        try:
            await run_windows(self.writer, self.stop_event, duration=duration)
        finally:
            self.stop_event.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.http.aclose()
            if self.api is not None:
                await self.api.aclose()
            try:
                await self.writer.flush(everything=True)
            except (LakeError, OSError) as exc:
                raise LakeError(f"youtube: could not write the open window: {exc}") from None
        for task in tasks:
            failure = task.exception() if not task.cancelled() else None
            if failure is not None and not isinstance(failure, YouTubeError):
                raise failure
        return self.stats


async def targets_from(channels_file: Path | None, videos: tuple[str, ...]) -> list[Target]:
    out = [video_target(v) for v in videos]
    if channels_file is not None:
        source = FileChannelSource(channels_file, YOUTUBE)
        out += [channel_target(ch) for ch in await source.fetch()]
    if not out:
        raise ConfigError("collect youtube: nothing to follow (empty channel list, no --video)")
    return out


async def run_youtube(
    settings: Settings,
    *,
    channels_file: Path | None = None,
    videos: tuple[str, ...] = (),
    replay: bool = False,
    duration: timedelta | None = None,
    on_status: Callable[[ChatStatus], None] | None = None,
    status_every: float = 1.0,
    handle_signals: bool = True,
) -> ChatStats:
    """Run ``collect youtube`` into ``settings.lake`` until done, ``duration`` or a signal."""
    targets = await targets_from(channels_file, videos)
    collector = YouTubeCollector(settings, Lake.open(settings.lake), targets, replay=replay)
    return await run_collector(
        collector, duration, on_status=on_status, every=status_every, handle_signals=handle_signals
    )
