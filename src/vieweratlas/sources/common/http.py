"""HTTP plumbing shared by the platform adapters (Helix, GraphQL, Kick, YouTube).

One place decides how we behave towards a platform: rate limits from the ``Ratelimit-Limit /
-Remaining / -Reset`` headers are honoured before the next call, a 429 waits until the reset
time, 5xx answers and timeouts are retried with exponential backoff a bounded number of
times, every attempt has an overall deadline (sending, waiting and reading the whole body:
a server that trickles its answer a byte at a time gets a timeout like one that says
nothing, so a call ends after at most ``attempts × (deadline + backoff)``), and every body
is validated into a typed record (a malformed body is a one-line
:class:`~vieweratlas.errors.TwitchError` by default; adapters of other platforms pass their
own error class). Time is a parameter (:class:`Clock`) so tests
never really wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from vieweratlas.errors import TwitchError, VieweratlasError, scrub, shorten

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 64 * 2**20  # no Helix or GQL page comes near this; bounds a hostile server
DEADLINE = 60.0  # seconds one attempt may take, body included (a Helix page takes < 1 s)


class Clock(Protocol):
    """Wall-clock time and sleeping; injectable so tests run without waiting."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard we try: attempts per call, backoff growth, the longest rate-limit wait."""

    attempts: int = 5
    backoff: float = 0.5  # first retry delay, doubled each time
    max_backoff: float = 30.0
    max_wait: float = 120.0  # a Ratelimit-Reset further away than this is capped

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


class HTTPStatusError(TwitchError):
    """Twitch answered with an error status we do not retry (4xx other than 429)."""

    def __init__(self, what: str, status: int, detail: str = "") -> None:
        super().__init__(f"{what}: HTTP {status}" + (f" ({detail})" if detail else ""))
        self.status = status


def error_detail(response: httpx.Response, secrets: Iterable[str]) -> str:
    """Twitch's own ``message`` from an error body: one line, capped, secrets blanked out."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    return shorten(scrub(message, tuple(secrets)))


class RateLimiter:
    """Remembers the last ``Ratelimit-*`` headers and waits when the bucket is empty."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: float | None = None

    def update(self, headers: httpx.Headers) -> None:
        def number(name: str) -> float | None:
            try:
                return float(headers[name])
            except (KeyError, ValueError):
                return None

        limit, remaining, reset = (
            number("ratelimit-limit"),
            number("ratelimit-remaining"),
            number("ratelimit-reset"),
        )
        if limit is not None:
            self.limit = int(limit)
        if remaining is not None:
            self.remaining = int(remaining)
        if reset is not None:
            self.reset = reset

    def wait_needed(self, now: float) -> float:
        """Seconds to wait before the next call (0 when points are left)."""
        if self.remaining is not None and self.remaining <= 0 and self.reset is not None:
            return max(0.0, self.reset - now)
        return 0.0


class Transport:
    """An ``httpx.AsyncClient`` with our retry, rate-limit and validation rules."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 15.0,
        deadline: float = DEADLINE,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body: int = MAX_BODY,
        error: type[VieweratlasError] = TwitchError,
        user_agent: str = "vieweratlas",
    ) -> None:
        self.max_body = max_body
        self.deadline = deadline
        self.error = error
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.limiter = RateLimiter()
        self.client = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _sleep(self, seconds: float, why: str) -> None:
        seconds = min(max(0.0, seconds), self.policy.max_wait)
        if seconds > 0:
            log.info("waiting %.1f s (%s)", seconds, why)
            await self.clock.sleep(seconds)

    async def _fetch(self, what: str, request: httpx.Request) -> httpx.Response:
        """Send and read the body, refusing bodies over ``max_body`` bytes (decompressed)."""
        response = await self.client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_body:
                    raise self.error(
                        f"{what}: response larger than {self.max_body:,} bytes, refused"
                    )
        finally:
            await response.aclose()
        # The body is decoded already: drop the headers that described it on the wire.
        wire = ("content-encoding", "content-length", "transfer-encoding")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in wire]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    async def send(self, what: str, build: Callable[[], httpx.Request]) -> httpx.Response:
        """Send the request ``build()`` makes, retrying as the policy says.

        Returns the first response that is neither 429 nor 5xx; other statuses are the
        caller's to interpret. ``what`` names the call in messages (never a secret).
        """
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            await self._sleep(self.limiter.wait_needed(self.clock.time()), "rate limit")
            try:
                # httpx's timeout is per socket operation, so a trickle never trips it:
                # the whole attempt (connect, send, every body byte) has one deadline.
                async with asyncio.timeout(self.deadline):
                    response = await self._fetch(what, build())
            except (httpx.TimeoutException, TimeoutError):
                if last:
                    raise self.error(
                        f"{what}: timed out {policy.attempts} times, giving up"
                    ) from None
                await self._sleep(policy.delay(attempt), f"{what} timed out")
                continue
            except httpx.TransportError as exc:
                if last:
                    raise self.error(
                        f"{what}: cannot connect ({type(exc).__name__}) after "
                        f"{policy.attempts} attempts"
                    ) from None
                await self._sleep(policy.delay(attempt), f"{what}: {type(exc).__name__}")
                continue
            self.limiter.update(response.headers)
            status = response.status_code
            if status == 429:
                await response.aread()
                if last:
                    raise self.error(f"{what}: still rate limited after {attempt} attempts")
                reset = self.limiter.reset
                wait = reset - self.clock.time() if reset is not None else policy.delay(attempt)
                await self._sleep(max(wait, 0.0), f"{what}: HTTP 429")
                continue
            if status >= 500:
                await response.aread()
                if last:
                    raise self.error(f"{what}: HTTP {status} after {attempt} attempts")
                await self._sleep(policy.delay(attempt), f"{what}: HTTP {status}")
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def client_transport(
    deadline: timedelta,
    *,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 15.0,
    error: type[VieweratlasError] = TwitchError,
) -> Transport:
    """The :class:`Transport` of a platform client whose settings give the per-attempt
    ``deadline`` (``twitch.request_deadline`` for Helix and GraphQL); ``clock``, ``policy``,
    ``transport`` and ``timeout`` are what tests inject."""
    return Transport(
        clock=clock,
        policy=policy,
        transport=transport,
        timeout=timeout,
        deadline=deadline.total_seconds(),
        error=error,
    )


def parse(
    response: httpx.Response,
    model: type[M],
    what: str,
    error: type[VieweratlasError] = TwitchError,
) -> M:
    """Validate a JSON body into ``model``; anything else is a one-line ``error``."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        raise error(f"{what}: answered with invalid JSON (HTTP {response.status_code})") from None
    return validate(data, model, what, error)


def validate(
    data: object, model: type[M], what: str, error: type[VieweratlasError] = TwitchError
) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise error(f"{what}: unexpected response at {where}: {err['msg']}") from None
    except RecursionError:
        raise error(f"{what}: response nested too deeply") from None
