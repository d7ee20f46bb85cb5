"""The dashboard's guards: where it may listen, who may read it, what a page may load.

- :func:`check_bind`: loopback by default; any other address needs a token or an explicit
  ``public`` (logged as a warning), else the server refuses to start.
- :class:`Guard` (ASGI middleware): the bearer token (``Authorization: Bearer …`` or the
  cookie set by ``/login``), read-only methods, security headers on every response (a strict
  Content-Security-Policy without ``'unsafe-inline'``), and an access log without query
  strings (so a token never reaches a log).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from vieweratlas.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["COOKIE", "CSP", "Guard", "check_bind", "is_loopback"]

COOKIE = "vieweratlas_token"
CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "script-src 'none'",
        "frame-src 'self'",
        "connect-src 'none'",
        "font-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
OPEN_PATHS = ("/healthz", "/login", "/static/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, token: str | None, public: bool) -> None:
    """Refuse (``ConfigError``) to listen beyond loopback without a token or ``public``."""
    if is_loopback(host):
        return
    if token:
        if len(token) < 16:
            raise ConfigError("serve: --auth-token must be at least 16 characters")
        return
    if not public:
        raise ConfigError(
            f"serve: --host {host[:60]} is not a loopback address; give --auth-token TOKEN "
            "(or VIEWERATLAS_AUTH_TOKEN) to require it, or --public to serve anyone"
        )
    log.warning(
        "SERVING THE DASHBOARD WITHOUT AUTHENTICATION on %s (--public): anyone who can reach "
        "this address can read every run in the lake",
        host,
    )


def token_ok(headers: dict[str, str], token: str) -> bool:
    """Whether the request carries ``token`` (bearer header or cookie), compared in
    constant time."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and hmac.compare_digest(
        auth[7:].strip().encode(), token.encode()
    ):
        return True
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no credential
        return False
    morsel = cookie.get(COOKIE)
    return morsel is not None and hmac.compare_digest(morsel.value.encode(), token.encode())


class Guard:
    """ASGI middleware: authentication, read-only methods, headers, access log."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        status = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                names = {bytes(k).lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in names
                ]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            if method not in ("GET", "HEAD") and not (method == "POST" and path == "/login"):
                await _plain(send_with_headers, 405, "read-only: GET and HEAD only")
            elif self.token and not path.startswith(OPEN_PATHS):
                headers = {
                    bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
                    for k, v in scope.get("headers", [])
                }
                if token_ok(headers, self.token):
                    await self.app(scope, receive, send_with_headers)
                elif path.startswith("/api/"):
                    await _plain(send_with_headers, 401, "authentication required", bearer=True)
                else:
                    await _redirect(send_with_headers, "/login")
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            # Path only: query strings may carry anything, and are not worth logging.
            log.info(
                "%s %s %d %.1fms", method, path[:200], status["code"],
                (time.perf_counter() - started) * 1000,
            )  # fmt: skip


async def _plain(send: Send, status: int, text: str, *, bearer: bool = False) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if bearer:
        headers.append((b"www-authenticate", b'Bearer realm="vieweratlas"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": (text + "\n").encode()})


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b"login required\n"})
