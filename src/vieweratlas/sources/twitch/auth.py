"""Helix credentials: the app access token (client credentials) and the optional user token.

The app token is fetched from ``twitch.auth_url`` on first use, cached, and fetched again
shortly before it expires or when Helix answers 401. Secrets stay in ``SecretStr`` until the
moment they go on the wire (form body or ``Authorization`` header) and are never logged nor
put in an error message. The token request goes through the shared
:class:`~vieweratlas.sources.common.http.Transport`, so it has the same overall deadline per
attempt and bounded retries as every Helix call: a token endpoint that trickles its answer
ends ``discover`` with a one-line error instead of hanging it.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from pydantic import SecretStr

from vieweratlas.config import TwitchSettings
from vieweratlas.errors import ConfigError, TwitchError
from vieweratlas.sources.common.http import Transport, parse
from vieweratlas.sources.twitch.models import TokenResponse

log = logging.getLogger(__name__)

EXPIRY_MARGIN_S = 60.0  # refresh this long before Twitch says the token expires


def user_token(twitch: TwitchSettings) -> SecretStr | None:
    """The configured user token without an IRC-style ``oauth:`` prefix."""
    if twitch.oauth_token is None:
        return None
    raw = twitch.oauth_token.get_secret_value().strip()
    raw = raw.removeprefix("oauth:")
    return SecretStr(raw) if raw else None


class AppToken:
    """A cached client-credentials token."""

    def __init__(self, twitch: TwitchSettings, http: Transport) -> None:
        if not twitch.client_id or twitch.client_secret is None:
            raise ConfigError("Helix needs twitch.client_id and twitch.client_secret")
        self._client_id = twitch.client_id
        self._secret = twitch.client_secret
        self._url = twitch.auth_url
        self._http = http
        self._token: SecretStr | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> SecretStr:
        async with self._lock:
            if self._token is None or self._http.clock.time() >= self._expires:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: SecretStr) -> None:
        """Forget ``token`` (Helix refused it); the next :meth:`get` fetches a new one."""
        if self._token is not None and (self._token.get_secret_value() == token.get_secret_value()):
            self._token = None

    async def _fetch(self) -> None:
        def build() -> httpx.Request:
            return self._http.client.build_request(
                "POST",
                self._url,
                data={
                    "client_id": self._client_id,
                    "client_secret": self._secret.get_secret_value(),
                    "grant_type": "client_credentials",
                },
            )

        response = await self._http.send("auth: token request", build)
        if response.status_code in (400, 401, 403):
            raise TwitchError(
                f"auth: Twitch refused twitch.client_id/twitch.client_secret "
                f"(HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise TwitchError(f"auth: token request answered HTTP {response.status_code}")
        body = parse(response, TokenResponse, "auth: token request")
        now = self._http.clock.time()
        self._token = SecretStr(body.access_token)
        self._expires = now + max(0.0, body.expires_in - EXPIRY_MARGIN_S)
        self.fetches += 1
        log.info("got an app access token (valid %d s)", body.expires_in)
