"""One IRC connection of the live collector: login, paced joins, reading, reconnecting.

A :class:`Connection` owns a set of wanted channels and keeps one socket joined to them:
on every (re)connect it negotiates the Twitch capabilities, logs in (anonymously as
``justinfan…`` unless a token is configured), joins every wanted channel under the join
rate limit, answers PINGs, and hands chat and membership events to the collector. A
dropped socket, a server ``RECONNECT`` or a silent connection (no traffic → PING → still
nothing → reconnect) all lead to a new session after an exponential, jittered backoff.

The server is untrusted: lines longer than :data:`MAX_LINE` are dropped whole (everything up
to the next newline, so no tail of one is ever read as a line of its own), warnings about
them are counted rather than repeated, only complete lines count as a sign of life for the
watchdog (a byte-per-second trickle is silence), and the login token is scrubbed from any
server text before it is logged or quoted in an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vieweratlas.errors import ConfigError, TwitchError, scrub
from vieweratlas.sources.common.windows import SEEN_JOIN, SEEN_NAMES
from vieweratlas.sources.twitch.irc import Message, UnsafeLineError, build_line, parse_line

if TYPE_CHECKING:
    from vieweratlas.sources.twitch.collector import LiveCollector

log = logging.getLogger(__name__)

CAPABILITIES = "twitch.tv/tags twitch.tv/commands twitch.tv/membership"
MAX_LINE = 64 * 1024
_AUTH_FAILED = ("login authentication failed", "improperly formatted auth", "invalid nick")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool


def parse_irc_url(url: str) -> Endpoint:
    """``ircs://host[:6697]`` or ``irc://host[:6667]`` → :class:`Endpoint`."""
    parts = urlsplit(url)
    if parts.scheme not in ("irc", "ircs") or not parts.hostname:
        raise ConfigError(
            f"twitch.irc_url: expected irc://host:port or ircs://host:port, got {url!r}"
        )
    try:
        port = parts.port or (6697 if parts.scheme == "ircs" else 6667)
    except ValueError:
        raise ConfigError(f"twitch.irc_url: bad port in {url!r}") from None
    return Endpoint(parts.hostname, port, parts.scheme == "ircs")


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: ``uniform(0.5, 1) * min(cap, base * 2**attempt)``."""
    return rng.uniform(0.5, 1.0) * min(cap, base * float(2 ** min(attempt, 30)))


class JoinLimiter:
    """At most ``limit`` JOINs in any ``window`` seconds (with a safety margin).

    Shared by every connection of one account when logged in (Twitch counts per account);
    one per connection when anonymous.
    """

    def __init__(
        self, limit: int, window: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        # The margin absorbs network jitter: joins that leave us evenly may arrive bunched.
        self.window = window * 1.05 + 0.05
        self._mono = monotonic
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        while True:
            now = self._mono()
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return
            await asyncio.sleep(self._sent[0] + self.window - now)


class LineBuffer:
    """Splits a byte stream into lines of at most ``limit`` bytes, in bounded memory.

    An over-long line is dropped with everything up to its newline (``discarding``), so its
    remainder can never pass for a line of its own; ``dropped`` counts such lines.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self.dropped = 0
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in ``data`` (without their newline); keeps the unfinished tail."""
        lines: list[bytes] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            if self._discarding:
                self._discarding = False  # the over-long line ends here
            elif len(self._buf) + end - start > self.limit:
                self.dropped += 1
            else:
                self._buf += data[start:end]
                lines.append(bytes(self._buf))
            self._buf.clear()
            start = end + 1
        if not self._discarding:
            if len(self._buf) + len(data) - start > self.limit:
                self.dropped += 1
                self._buf.clear()
                self._discarding = True
            else:
                self._buf += data[start:]
        return lines


class ConnectionLost(Exception):
    """The session ended (closed, silent, or asked to reconnect); ``reason`` says why."""


class Connection:
    """One IRC socket and the channels it should be in; see the module docstring."""

    def __init__(self, collector: LiveCollector, index: int, limiter: JoinLimiter) -> None:
        self.collector = collector
        self.index = index
        self.limiter = limiter
        self.wanted: set[str] = set()
        self.joined: set[str] = set()
        self.connected = False
        self.sessions = 0
        self.nick = ""
        self._sent: set[str] = set()
        self._wake = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._last_rx = 0.0
        self._silent = False
        self._secrets: tuple[str, ...] = collector.secrets

    # ------------------------------------------------------------------ channel set

    def want(self, channels: set[str]) -> None:
        self.wanted = set(channels)
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a session alive until ``stop``; reconnect with backoff between sessions."""
        c = self.collector
        attempt = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._session()
                reason = "closed"
            except ConnectionLost as exc:
                reason = str(exc)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                reason = self._scrub(f"{type(exc).__name__}: {exc}")
            except TwitchError:
                raise  # e.g. login refused: retrying cannot help
            except Exception as exc:  # a bug must not end weeks of unattended collection
                log.error("connection %d: unexpected error\n%s", self.index, self._trace(exc))
                reason = f"unexpected {type(exc).__name__}"
            finally:
                self._close()
            if stop.is_set():
                return
            c.stats.reconnects += 1
            if reason == "server asked to reconnect" or time.monotonic() - started > 60:
                attempt = 0  # a healthy session or a polite RECONNECT: no penalty
            delay = backoff_delay(attempt, c.reconnect_min, c.reconnect_max, c.rng)
            attempt += 1
            log.warning("connection %d: %s; reconnecting in %.1fs", self.index, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def _scrub(self, text: str) -> str:
        """Server text with the login token blanked out: what may be logged or quoted."""
        return scrub(text, self._secrets)

    def _close(self) -> None:
        self.connected = False
        for ch in self.joined | self._sent:
            self.collector.forget_members(ch)  # a new session re-learns them
        self.joined.clear()
        self._sent.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def send(self, line: str) -> None:
        if self._writer is None:
            raise ConnectionLost("not connected")
        self._writer.write(line.encode("utf-8"))

    async def _session(self) -> None:
        c = self.collector
        ep = c.endpoint
        ctx = ssl.create_default_context() if ep.tls else None
        timeout = c.connect_timeout
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ep.host, ep.port, ssl=ctx, limit=MAX_LINE), timeout
        )
        self._writer = writer
        self.sessions += 1
        self.nick = c.login or f"justinfan{c.rng.randint(10_000, 99_999_999)}"
        self.send(build_line("CAP", "REQ", CAPABILITIES))
        if c.token is not None:
            token = c.token.get_secret_value()
            self.send(build_line("PASS", token if token.startswith("oauth:") else f"oauth:{token}"))
        self.send(build_line("NICK", self.nick))
        self.send(build_line("USER", self.nick, "8", "*", self.nick))
        self.send(build_line("CAP", "END"))
        await writer.drain()
        registered = asyncio.Event()
        reading = asyncio.create_task(self._read(reader, registered))
        waiter = asyncio.create_task(registered.wait())
        joiner: asyncio.Task[None] | None = None
        watchdog: asyncio.Task[None] | None = None
        self._silent = False
        self._last_rx = time.monotonic()
        try:
            done, _ = await asyncio.wait(
                {reading, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if reading in done:
                reading.result()  # raises why it ended
                raise ConnectionLost("closed during login")
            if not registered.is_set():
                raise ConnectionLost("no welcome (001) from the server")
            self.connected = True
            log.info("connection %d: logged in as %s", self.index, self.nick)
            joiner = asyncio.create_task(self._join_loop())
            watchdog = asyncio.create_task(self._watchdog())
            await reading
        finally:
            tasks = [t for t in (waiter, joiner, watchdog, reading) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _join_loop(self) -> None:
        """Make the server's channel set follow ``wanted``, joins paced by the limiter."""
        while True:
            self._wake.clear()
            for ch in sorted(self._sent - self.wanted):
                self.send(build_line("PART", "#" + ch))
                self._sent.discard(ch)
                self.joined.discard(ch)
                self.collector.forget_members(ch)
            for ch in sorted(self.wanted - self._sent):
                await self.limiter.acquire()
                if ch not in self.wanted or self._writer is None:
                    continue
                self.send(build_line("JOIN", "#" + ch))
                self._sent.add(ch)
                await self._writer.drain()
            await self._wake.wait()

    async def _read(self, reader: asyncio.StreamReader, registered: asyncio.Event) -> None:
        # No asyncio.wait_for around the read: on Python 3.11 it can swallow a cancellation
        # that races a completed read, which under load made shutdown hang. The silence
        # watchdog runs as its own task instead.
        c = self.collector
        lines = LineBuffer(MAX_LINE)
        while True:
            try:
                data = await reader.read(MAX_LINE)
            except OSError as exc:
                if self._silent:
                    raise ConnectionLost("silent connection (no answer to PING)") from None
                raise ConnectionLost(f"connection error: {exc}") from None
            if not data:
                if self._silent:
                    raise ConnectionLost("silent connection (no answer to PING)")
                raise ConnectionLost("closed by the server")
            dropped = lines.dropped
            complete = lines.feed(data)
            if lines.dropped > dropped:
                c.stats.overlong += lines.dropped - dropped
                n = c.stats.overlong
                if n <= 3 or n % 1000 == 0:  # a hostile stream must not flood the log
                    log.warning(
                        "connection %d: dropped an over-long line (over %d bytes; %d so far)",
                        self.index,
                        MAX_LINE,
                        n,
                    )
            if not complete:
                continue
            # Only complete lines are a sign of life: a trickle of bytes is silence.
            self._last_rx = time.monotonic()
            now = c.now()
            for raw in complete:
                line = raw.decode("utf-8", "replace").removesuffix("\r")
                if line:
                    self._handle(line, now, registered)

    async def _watchdog(self) -> None:
        """No traffic for ``silence_timeout`` → PING; still nothing after as long → drop."""
        silence = self.collector.silence_timeout
        while True:
            idle = time.monotonic() - self._last_rx
            if idle < silence:
                await asyncio.sleep(silence - idle)
                continue
            pinged = time.monotonic()
            self.send(build_line("PING", "vieweratlas"))
            await asyncio.sleep(silence)
            if self._last_rx < pinged and self._writer is not None:
                self._silent = True
                self._writer.transport.abort()  # the read loop ends with ConnectionLost
                return

    def _handle(self, line: str, now: datetime, registered: asyncio.Event) -> None:
        try:
            self._dispatch(line, now, registered)
        except (ConnectionLost, TwitchError):
            raise
        except Exception as exc:  # one odd line from an untrusted server must not end the session
            self.collector.stats.malformed += 1
            log.error(
                "connection %d: could not handle line %.80r\n%s",
                self.index,
                self._scrub(line),
                self._trace(exc),
            )

    def _trace(self, exc: BaseException) -> str:
        return self._scrub("".join(traceback.format_exception(exc)).rstrip())

    def _dispatch(self, line: str, now: datetime, registered: asyncio.Event) -> None:
        c = self.collector
        try:
            msg = parse_line(line)
        except ValueError as exc:
            c.stats.malformed += 1
            if c.stats.malformed <= 20 or c.stats.malformed % 1000 == 0:
                log.warning(
                    "connection %d: skipping malformed line %.80r (%s; %d so far)",
                    self.index,
                    self._scrub(line),
                    self._scrub(str(exc)),
                    c.stats.malformed,
                )
            return
        cmd = msg.command
        if cmd == "PRIVMSG" or cmd == "USERNOTICE":
            self._chat(msg, now)
        elif cmd == "JOIN" or cmd == "PART":
            self._membership(msg, now)
        elif cmd == "QUIT" and msg.nick is not None:  # plain IRC servers; Twitch sends PART
            for chan in self.wanted:
                c.member_left(chan, msg.nick.lower())
        elif cmd == "353":
            if len(msg.params) >= 4:
                ch = _channel(msg.params[2])
                if ch is not None and ch in self.wanted:
                    for name in msg.params[3].split():
                        user = name.lstrip("@+%~&").lower()
                        if user and user != self.nick:
                            c.seen_member(now, ch, user, SEEN_NAMES)
        elif cmd == "PING":
            try:
                self.send(build_line("PONG", *(msg.params or ["tmi.twitch.tv"])))
            except UnsafeLineError:
                self.send(build_line("PONG", "tmi.twitch.tv"))
        elif cmd == "RECONNECT":
            raise ConnectionLost("server asked to reconnect")
        elif cmd == "001":
            registered.set()
        elif cmd == "NOTICE":
            text = (msg.trailing or "").lower()
            if not self.connected and any(s in text for s in _AUTH_FAILED):
                text = self._scrub(msg.trailing or "")
                raise TwitchError(f"IRC login refused by the server: {text:.100}")
        elif cmd == "ERROR":
            raise ConnectionLost(f"server error: {self._scrub(msg.trailing or ''):.100}")

    def _chat(self, msg: Message, now: datetime) -> None:
        if not msg.params:
            return
        ch = _channel(msg.params[0])
        if ch is None or ch not in self.wanted:
            return
        user = msg.tags.get("login") or msg.nick
        if not user or user.startswith("tmi.twitch.tv"):
            return
        self.collector.seen_message(now, ch, user.lower(), msg.tags.get("user-id") or None)

    def _membership(self, msg: Message, now: datetime) -> None:
        if not msg.params or msg.nick is None:
            return
        ch = _channel(msg.params[0])
        if ch is None:
            return
        nick = msg.nick.lower()
        if nick == self.nick.lower():
            if msg.command == "JOIN":
                self.joined.add(ch)
            else:
                self.joined.discard(ch)
        elif ch in self.wanted:
            if msg.command == "JOIN":
                self.collector.seen_member(now, ch, nick, SEEN_JOIN)
            else:
                self.collector.member_left(ch, nick)


def _channel(param: str) -> str | None:
    return param[1:].lower() if param.startswith("#") and len(param) > 1 else None
