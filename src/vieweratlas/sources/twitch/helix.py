"""The Helix API adapter: a typed async client, channel discovery and Get Chatters presence.

:class:`HelixClient` sends ``Client-Id`` and a bearer token on every call (the app token by
client credentials, or the configured user token where Twitch requires one), pages through
cursors, de-duplicates what pages repeat, and returns validated records
(:mod:`vieweratlas.sources.twitch.models`). :func:`discover` writes the current top channels
into the lake's ``channels`` table; :func:`collect_chatters` writes ``source=chatters`` presence;
:func:`top_channel_source` feeds the live collector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pyarrow as pa
from pydantic import BaseModel, SecretStr

from vieweratlas.config import Settings, TwitchSettings
from vieweratlas.errors import ConfigError, TwitchError
from vieweratlas.lake import Lake, WriteResult
from vieweratlas.lake.schema import CHANNELS, PRESENCE, TS
from vieweratlas.platforms import TWITCH
from vieweratlas.sources.common.channels import read_channel_list
from vieweratlas.sources.common.http import (
    Clock,
    HTTPStatusError,
    RetryPolicy,
    client_transport,
    error_detail,
    parse,
)
from vieweratlas.sources.common.paging import Page, pages
from vieweratlas.sources.twitch.auth import AppToken, user_token
from vieweratlas.sources.twitch.models import (
    Chatter,
    ChattersPage,
    Stream,
    StreamsPage,
    User,
    UsersPage,
    Video,
    VideosPage,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

PAGE = 100  # Helix's largest page for streams, users and videos
CHATTERS_PAGE = 1000


class HelixClient:
    """Async Helix client; use as ``async with HelixClient(settings.twitch) as helix:``."""

    def __init__(
        self,
        twitch: TwitchSettings,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        if not twitch.client_id:
            raise ConfigError("Helix needs twitch.client_id")
        self.twitch = twitch
        self.base = twitch.helix_url.rstrip("/")
        self.http = client_transport(
            twitch.request_deadline,
            clock=clock,
            policy=policy,
            transport=transport,
            timeout=timeout,
        )
        self.app = AppToken(twitch, self.http) if twitch.client_secret is not None else None
        self.user = user_token(twitch)
        if self.app is None and self.user is None:
            raise ConfigError(
                "Helix needs twitch.client_secret (or a user token in twitch.oauth_token)"
            )

    async def __aenter__(self) -> HelixClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ plumbing

    async def _token(self, user: bool) -> SecretStr:
        if user or self.app is None:
            if self.user is None:
                raise ConfigError(
                    "this call needs a user token in twitch.oauth_token "
                    "(with the moderator:read:chatters scope)"
                )
            return self.user
        return await self.app.get()

    def _secrets(self, token: SecretStr) -> list[str]:
        values = [token, self.user, self.twitch.client_secret]
        return [v.get_secret_value() for v in values if v is not None]

    async def get(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        model: type[M],
        *,
        user: bool = False,
    ) -> M:
        """GET ``helix_url/path``; a 401 on the app token fetches a new token once."""
        what = f"helix /{path}"
        url = f"{self.base}/{path}"
        for refresh in (False, True):
            token = await self._token(user)
            headers = {
                "Client-Id": self.twitch.client_id or "",
                "Authorization": f"Bearer {token.get_secret_value()}",
            }

            def build(headers: dict[str, str] = headers) -> httpx.Request:
                return self.http.client.build_request(
                    "GET", url, params=list(params), headers=headers
                )

            response = await self.http.send(what, build)
            if response.status_code == 401:
                using_app = self.app is not None and not user
                if using_app and not refresh:
                    assert self.app is not None
                    log.info("%s: token refused (401), fetching a new app token", what)
                    self.app.invalidate(token)
                    continue
                which = "app token" if using_app else "user token (twitch.oauth_token)"
                raise HTTPStatusError(f"{what}: Twitch refused the {which}", 401)
            if response.status_code != 200:
                detail = error_detail(response, self._secrets(token))
                raise HTTPStatusError(what, response.status_code, detail)
            return parse(response, model, what)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ endpoints

    async def top_streams(self, n: int) -> list[Stream]:
        """The ``n`` most-watched live streams, distinct by user id, most viewers first.

        Pages can repeat or skip streams while viewer counts change under the cursor, so
        streams are de-duplicated by ``user_id`` and paging goes on until ``n`` distinct
        ones are in hand or Twitch has no more.
        """
        seen: dict[str, Stream] = {}

        async def fetch(cursor: str | None) -> Page[Stream]:
            params = [("first", str(PAGE)), *_after(cursor)]
            page = await self.get("streams", params, StreamsPage)
            return Page(page.data, page.pagination.cursor)

        async for page in pages(fetch, max_pages=n // PAGE + 25, what="helix /streams"):
            for stream in page.items:
                if stream.user_id not in seen and len(seen) < n:
                    seen[stream.user_id] = stream
            if len(seen) >= n:
                break
        streams = sorted(seen.values(), key=lambda s: -s.viewer_count)
        log.info("helix: %d top streams (asked for %d)", len(streams), n)
        return streams

    async def users(self, logins: Sequence[str]) -> list[User]:
        """Users by login, in batches of 100; unknown logins are simply absent."""
        out: dict[str, User] = {}
        unique = list(dict.fromkeys(logins))
        for i in range(0, len(unique), PAGE):
            batch = [("login", login) for login in unique[i : i + PAGE]]
            page = await self.get("users", batch, UsersPage)
            for user in page.data:
                out.setdefault(user.id, user)
        return list(out.values())

    async def me(self) -> User:
        """The user the configured user token belongs to."""
        page = await self.get("users", [], UsersPage, user=True)
        if not page.data:
            raise TwitchError("helix /users: no user behind twitch.oauth_token")
        return page.data[0]

    async def videos(self, user_id: str, *, since: datetime) -> list[Video]:
        """Archives (past broadcasts) of one channel created at ``since`` or later."""
        out: dict[str, Video] = {}

        async def fetch(cursor: str | None) -> Page[Video]:
            params = [
                ("user_id", user_id),
                ("type", "archive"),
                ("sort", "time"),
                ("first", str(PAGE)),
                *_after(cursor),
            ]
            page = await self.get("videos", params, VideosPage)
            return Page(page.data, page.pagination.cursor)

        async for page in pages(fetch, max_pages=50, what="helix /videos"):
            for video in page.items:
                if video.created_at >= since:
                    out.setdefault(video.id, video)
            if page.items and min(v.created_at for v in page.items) < since:
                break  # sorted by time: the rest is older still
        return sorted(out.values(), key=lambda v: v.created_at)

    async def chatters(self, broadcaster_id: str, moderator_id: str) -> list[Chatter]:
        """Everyone connected to a chat (needs the moderator's user token)."""
        out: dict[str, Chatter] = {}

        async def fetch(cursor: str | None) -> Page[Chatter]:
            params = [
                ("broadcaster_id", broadcaster_id),
                ("moderator_id", moderator_id),
                ("first", str(CHATTERS_PAGE)),
                *_after(cursor),
            ]
            page = await self.get("chat/chatters", params, ChattersPage, user=True)
            return Page(page.data, page.pagination.cursor)

        async for page in pages(fetch, max_pages=1000, what="helix /chat/chatters"):
            for chatter in page.items:
                out.setdefault(chatter.user_id, chatter)
        return list(out.values())


def _after(cursor: str | None) -> list[tuple[str, str]]:
    return [("after", cursor)] if cursor else []


# ---------------------------------------------------------------------- channels


@dataclass(frozen=True)
class ChannelRef:
    """A tracked channel: its login and Twitch user id."""

    login: str
    user_id: str


async def resolve_channels(
    helix: HelixClient, *, channels: Sequence[str] | None = None, top: int | None = None
) -> list[ChannelRef]:
    """Channel logins from a list (looked up with Get Users) or the current top ``top``."""
    if channels:
        users = {u.login: u for u in await helix.users(channels)}
        missing = [c for c in channels if c not in users]
        if missing:
            log.warning(
                "%d channel(s) unknown to Twitch, skipped: %s",
                len(missing),
                ", ".join(missing[:10]),
            )
        return [
            ChannelRef(users[c].login, users[c].id) for c in dict.fromkeys(channels) if c in users
        ]
    if top:
        return [ChannelRef(s.user_login, s.user_id) for s in await helix.top_streams(top)]
    raise ConfigError("give channels (--channels-file) or --top N")


class TopChannels:
    """The live collector's channel source for ``--top N`` (a ``ChannelSource``)."""

    def __init__(self, settings: Settings, top: int, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.top = top
        self.clock = clock
        self.streams: list[Stream] = []  # what the last fetch saw, with metadata

    async def fetch(self) -> list[str]:
        async with HelixClient(self.settings.twitch, clock=self.clock) as helix:
            self.streams = await helix.top_streams(self.top)
        return [s.user_login for s in self.streams]


def top_channel_source(settings: Settings, top: int) -> TopChannels:
    """A channel source returning the current top ``top`` channels by viewers."""
    twitch = settings.twitch
    if not twitch.client_id or twitch.client_secret is None:
        raise ConfigError("--top needs twitch.client_id and twitch.client_secret")
    return TopChannels(settings, top)


# ---------------------------------------------------------------------- discover


@dataclass(frozen=True)
class DiscoverResult:
    streams: tuple[Stream, ...]
    write: WriteResult


def streams_table(streams: Sequence[Stream], ts: datetime) -> pa.Table:
    """Rows for the lake's ``channels`` table (plus ``platform``)."""
    n = len(streams)
    columns = {
        "ts": pa.array([ts] * n, TS),
        "channel": pa.array([s.user_login for s in streams], pa.string()),
        "channel_id": pa.array([s.user_id for s in streams], pa.string()),
        "display_name": pa.array([s.user_name or None for s in streams], pa.string()),
        "game": pa.array([s.game_name or None for s in streams], pa.string()),
        "language": pa.array([s.language or None for s in streams], pa.string()),
        "viewers": pa.array([s.viewer_count for s in streams], pa.int64()),
        "title": pa.array([s.title or None for s in streams], pa.string()),
        "platform": pa.array(["twitch"] * n, pa.string()),
    }
    return pa.table(columns).select([*CHANNELS.schema.names, "platform"])


def floor_time(t: datetime, step: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``step`` since the epoch (UTC)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    step_s = max(1, int(step.total_seconds()))
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step_s, tz=UTC)


async def discover_async(
    settings: Settings,
    lake: Lake,
    *,
    top: int,
    now: datetime | None = None,
    clock: Clock | None = None,
) -> DiscoverResult:
    """Fetch the top ``top`` live channels and write their metadata to ``channels``."""
    ts = floor_time(now or datetime.now(UTC), timedelta(minutes=1))
    async with HelixClient(settings.twitch, clock=clock) as helix:
        streams = await helix.top_streams(top)
    # Everything is fetched and validated before the one write: an error leaves the lake as is.
    result = lake.write("channels", streams_table(streams, ts))
    return DiscoverResult(tuple(streams), result)


def discover(
    settings: Settings, lake: Lake, *, top: int, now: datetime | None = None
) -> DiscoverResult:
    """Blocking wrapper of :func:`discover_async` (for the CLI)."""
    return asyncio.run(discover_async(settings, lake, top=top, now=now))


# ---------------------------------------------------------------------- chatters


@dataclass(frozen=True)
class ChattersResult:
    channels: tuple[str, ...]  # channels whose chatters were read
    skipped: tuple[str, ...]  # channels where the account is not a moderator (403)
    users: int
    write: WriteResult


async def collect_chatters_async(
    settings: Settings,
    lake: Lake,
    *,
    channels: Sequence[str] | None = None,
    top: int | None = None,
    now: datetime | None = None,
    clock: Clock | None = None,
) -> ChattersResult:
    """Get Chatters presence (``source=chatters``, 0 messages) at the current window start."""
    if settings.twitch.oauth_token is None:
        raise ConfigError(
            "collect chatters needs twitch.oauth_token "
            "(a moderator's token with the moderator:read:chatters scope)"
        )
    ts = floor_time(now or datetime.now(UTC), settings.collect.interval)
    frames: list[pa.Table] = []
    done: list[str] = []
    skipped: list[str] = []
    async with HelixClient(settings.twitch, clock=clock) as helix:
        me = await helix.me()
        refs = await resolve_channels(helix, channels=channels, top=top)
        for ref in refs:
            try:
                chatters = await helix.chatters(ref.user_id, me.id)
            except HTTPStatusError as exc:
                if exc.status != 403:
                    raise
                log.warning(
                    "chatters: %s is not moderated by %s, skipped (HTTP 403)", ref.login, me.login
                )
                skipped.append(ref.login)
                continue
            frames.append(chatters_table(ref.login, chatters, ts))
            done.append(ref.login)
    table = pa.concat_tables(frames) if frames else chatters_table("", [], ts)
    result = lake.write("presence", table)
    return ChattersResult(tuple(done), tuple(skipped), table.num_rows, result)


def chatters_table(channel: str, chatters: Sequence[Chatter], ts: datetime) -> pa.Table:
    n = len(chatters)
    return pa.table(
        {
            "ts": pa.array([ts] * n, TS),
            "channel": pa.array([channel] * n, pa.string()),
            "user": pa.array([c.user_login for c in chatters], pa.string()),
            "user_id": pa.array([c.user_id for c in chatters], pa.string()),
            "source": pa.array(["chatters"] * n, pa.string()),
            "messages": pa.array([0] * n, pa.int32()),
            "platform": pa.array(["twitch"] * n, pa.string()),
        }
    ).select([*PRESENCE.schema.names, "platform"])


def collect_chatters(
    settings: Settings,
    lake: Lake,
    *,
    channels: Sequence[str] | None = None,
    top: int | None = None,
) -> ChattersResult:
    """Blocking wrapper of :func:`collect_chatters_async` (for the CLI)."""
    return asyncio.run(collect_chatters_async(settings, lake, channels=channels, top=top))


def read_channels_file(path: Path) -> list[str]:
    """Twitch channel logins from a channel list file (see
    :func:`~vieweratlas.sources.common.channels.read_channel_list`); none is an error."""
    return read_channel_list(path, TWITCH, require=True)
