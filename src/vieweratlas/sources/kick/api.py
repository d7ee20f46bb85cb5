"""Kick's public API (``kick.api_url``) with an app access token, and the web channel API.

* OAuth 2.1 client credentials at ``kick.auth_url`` (form POST: ``grant_type=
  client_credentials``, ``client_id``, ``client_secret``) → ``access_token``; renewed on 401.
* ``GET /public/v1/public-key`` → the PEM key that signs webhook deliveries.
* ``GET /public/v1/channels?slug=…`` → broadcaster user ids of channel slugs.
* ``GET /public/v1/livestreams?sort=viewer_count&limit=N`` → the current top live channels.
* ``GET/POST/DELETE /public/v1/events/subscriptions`` → the app's webhook subscriptions; a
  subscription Kick dropped (after a day of failed deliveries) is simply missing from the
  list, and :meth:`KickApi.sync_subscriptions` creates it again; the ones for channels no
  longer watched (and duplicates) are deleted (``DELETE …?id=a&id=b``).
* ``GET {kick.web_url}/api/v2/channels/<slug>`` (the web client's API, no token) → the
  chatroom id the Pusher transport subscribes to.

Every answer is validated into :mod:`vieweratlas.sources.kick.models`; anything else is a
one-line :class:`~vieweratlas.errors.KickError`. The token and secret are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError, KickError
from vieweratlas.platforms import KICK
from vieweratlas.sources.common.http import Clock, Transport, error_detail, parse
from vieweratlas.sources.kick import models as m

log = logging.getLogger(__name__)

CHAT_EVENT = "chat.message.sent"
PAGE = 50  # slugs per channels call, livestreams per page (the API allows up to 100)


class KickApi:
    """A client of the public API; ``transport`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        ks = settings.kick
        self.api = ks.api_url.rstrip("/")
        self.auth_url = ks.auth_url
        self.web = ks.web_url.rstrip("/")
        self.client_id = ks.client_id
        self.secret = ks.client_secret.get_secret_value() if ks.client_secret else None
        self.http = Transport(transport=transport, clock=clock, error=KickError)
        self._token: str | None = None

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id and self.secret)

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ plumbing

    async def token(self, *, renew: bool = False) -> str:
        if self._token is not None and not renew:
            return self._token
        if not self.has_credentials:
            raise ConfigError("kick: needs kick.client_id and kick.client_secret for the API")
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id or "",
            "client_secret": self.secret or "",
        }
        response = await self.http.send(
            "kick token", lambda: self.http.client.build_request("POST", self.auth_url, data=form)
        )
        if response.status_code != 200:
            detail = error_detail(response, [self.secret or ""])
            raise KickError(f"kick token: HTTP {response.status_code} {detail}".strip())
        self._token = parse(response, m.Token, "kick token", KickError).access_token
        return self._token

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Sequence[tuple[str, str | int]] = (),
        json: Any = None,
        auth: bool = True,
    ) -> httpx.Response:
        """One API call; a 401 renews the token once."""
        for attempt in (1, 2):
            headers = {"Accept": "application/json"}
            if auth:
                headers["Authorization"] = f"Bearer {await self.token(renew=attempt == 2)}"
            url = self.api + path

            def build(headers: dict[str, str] = headers, url: str = url) -> httpx.Request:
                return self.http.client.build_request(
                    method, url, params=list(params), json=json, headers=headers
                )

            response = await self.http.send(what, build)
            if response.status_code == 401 and auth and attempt == 1:
                continue
            if response.status_code >= 400:
                detail = error_detail(response, [self.secret or "", self._token or ""])
                raise KickError(f"{what}: HTTP {response.status_code} {detail}".strip())
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ endpoints

    async def public_key(self) -> str:
        response = await self.call(
            "GET", "/public/v1/public-key", "kick public key", auth=self.has_credentials
        )
        return parse(response, m.PublicKeyPage, "kick public key", KickError).data.public_key

    async def channels(self, slugs: Iterable[str]) -> dict[str, int]:
        """Slug → broadcaster user id for the slugs Kick knows."""
        wanted = [s for s in slugs if KICK.normalize(s) == s]
        out: dict[str, int] = {}
        for i in range(0, len(wanted), PAGE):
            params = [("slug", s) for s in wanted[i : i + PAGE]]
            response = await self.call("GET", "/public/v1/channels", "kick channels", params=params)
            page = parse(response, m.ChannelsPage, "kick channels", KickError)
            for ch in page.data:
                slug = KICK.normalize(ch.slug)
                if slug is not None:
                    out[slug] = ch.broadcaster_user_id
        return out

    async def top_live(self, n: int) -> dict[str, int]:
        """The ``n`` most-watched live channels now: slug → broadcaster user id."""
        return {s.slug: s.broadcaster_user_id for s in await self.top_streams(n)}

    async def top_streams(self, n: int) -> list[m.Livestream]:
        """The ``n`` most-watched live streams now (slugs normalised), most-watched first."""
        out: dict[str, m.Livestream] = {}
        page_no = 1
        while len(out) < n:
            params: list[tuple[str, str | int]] = [
                ("sort", "viewer_count"),
                ("limit", min(PAGE, n)),
                ("page", page_no),
            ]
            response = await self.call(
                "GET", "/public/v1/livestreams", "kick livestreams", params=params
            )
            page = parse(response, m.LivestreamsPage, "kick livestreams", KickError)
            for stream in page.data:
                slug = KICK.normalize(stream.slug)
                if slug is not None and len(out) < n:
                    out[slug] = stream.model_copy(update={"slug": slug})
            if len(page.data) < min(PAGE, n):
                break
            page_no += 1
        return list(out.values())

    async def subscriptions(self) -> list[m.Subscription]:
        response = await self.call("GET", "/public/v1/events/subscriptions", "kick subscriptions")
        return list(parse(response, m.SubscriptionsPage, "kick subscriptions", KickError).data)

    async def subscribe(self, broadcaster_user_id: int) -> None:
        body = {
            "broadcaster_user_id": broadcaster_user_id,
            "events": [{"name": CHAT_EVENT, "version": 1}],
            "method": "webhook",
        }
        await self.call("POST", "/public/v1/events/subscriptions", "kick subscribe", json=body)

    async def unsubscribe(self, ids: Sequence[str]) -> None:
        """Delete subscriptions by id (``PAGE`` ids a call)."""
        for i in range(0, len(ids), PAGE):
            params: list[tuple[str, str | int]] = [("id", sid) for sid in ids[i : i + PAGE]]
            await self.call(
                "DELETE", "/public/v1/events/subscriptions", "kick unsubscribe", params=params
            )

    async def sync_subscriptions(self, broadcasters: Iterable[int]) -> tuple[int, int]:
        """Make the app's ``chat.message.sent`` subscriptions exactly ``broadcasters``: create
        the missing ones (new channels, and ones Kick dropped), delete those of channels no
        longer watched and duplicates. Other events are left alone. (created, deleted)."""
        wanted = set(broadcasters) - {0}
        keep: set[int] = set()
        unwanted: list[str] = []
        for sub in await self.subscriptions():
            if sub.event != CHAT_EVENT:
                continue
            if sub.broadcaster_user_id in wanted and sub.broadcaster_user_id not in keep:
                keep.add(sub.broadcaster_user_id)
            else:
                unwanted.append(sub.id)
        if unwanted:
            await self.unsubscribe(unwanted)
        missing = sorted(wanted - keep)
        for broadcaster in missing:
            await self.subscribe(broadcaster)
        if missing or unwanted:
            log.info("kick: %d chat subscriptions created or renewed, %d deleted",
                     len(missing), len(unwanted))  # fmt: skip
        return len(missing), len(unwanted)

    async def chatroom(self, slug: str) -> int:
        """The chatroom id of ``slug`` (the web client's channel API; no token)."""
        if KICK.normalize(slug) != slug:
            raise KickError(f"kick channel: not a Kick slug {slug!r}")
        url = f"{self.web}/api/v2/channels/{slug}"
        response = await self.http.send(
            "kick web channel", lambda: self.http.client.build_request("GET", url)
        )
        if response.status_code >= 400:
            raise KickError(f"kick web channel {slug}: HTTP {response.status_code}")
        return int(parse(response, m.WebChannel, f"kick web channel {slug}", KickError).chatroom.id)
