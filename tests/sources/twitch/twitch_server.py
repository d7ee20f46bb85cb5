"""A scripted Twitch-flavoured IRC server on 127.0.0.1:0, run in its own thread.

It speaks what the collector relies on: CAP REQ/ACK, PASS/NICK/USER → 001, JOIN (echo,
353 NAMES, 366), PART, PING/PONG, RECONNECT, tagged PRIVMSG/USERNOTICE, and it enforces
the join rate limit the way Twitch does: too many JOINs in the window and the connection is
closed (``tripped`` records it). Tests drive it from any thread; every action runs on the
server's loop and waits until it has been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from vieweratlas.sources.twitch.irc import build_line, parse_line

HOST = "tmi.twitch.tv"


@dataclass(eq=False)
class Client:
    id: int
    writer: asyncio.StreamWriter
    nick: str = ""
    password: str | None = None
    caps: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    join_times: deque[float] = field(default_factory=deque)
    joins: list[str] = field(default_factory=list)
    registered: bool = False
    alive: bool = True
    silent: bool = False
    pings: int = 0

    def send(self, line: str) -> None:
        if self.alive and not self.silent:
            self.writer.write(line.encode())


class TwitchServer:
    def __init__(
        self,
        *,
        join_limit: int = 20,
        join_window: float = 10.0,
        members: dict[str, list[str]] | None = None,
        refuse_login: bool = False,
        refuse_text: str = "Login authentication failed",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.refuse_login = refuse_login
        self.refuse_text = refuse_text
        self.tls = tls
        self.join_limit = join_limit
        self.join_window = join_window
        self.members = members or {}
        self.clients: list[Client] = []
        self.tripped = False
        self.account_joins: dict[str, deque[float]] = {}
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TwitchServer:
        self._thread.start()
        self._server = self.run(asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.tls))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for c in self.clients:
                c.alive = False
                c.writer.close()

        self.run(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"{'ircs' if self.tls else 'irc'}://127.0.0.1:{self.port}"

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        async def call() -> None:
            fn()
            for c in self.clients:
                if c.alive:
                    with contextlib.suppress(ConnectionError, OSError):
                        await c.writer.drain()

        self.run(call())

    def _changed(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError("timed out waiting for the scripted server's state")

    async def await_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    # ------------------------------------------------------------------ queries

    def alive(self) -> list[Client]:
        with self.cond:
            return [c for c in self.clients if c.alive]

    def joined(self) -> set[str]:
        """Channels joined over all live, registered connections."""
        with self.cond:
            return set().union(*(c.channels for c in self.clients if c.alive))

    # ------------------------------------------------------------------ scripted events

    def _broadcast(self, channel: str, line: str) -> None:
        for c in self.clients:
            if channel in c.channels:
                c.send(line)

    def privmsg(
        self, channel: str, user: str, text: str = "hi", *, user_id: str | None = None
    ) -> None:
        tags = {
            "badge-info": "",
            "color": "#FF0000",
            "display-name": user.title(),
            "emotes": "",
            "id": f"m-{time.monotonic_ns()}",
            "mod": "0",
        }
        if user_id:
            tags["user-id"] = user_id
        line = build_line(
            "PRIVMSG", "#" + channel, text, tags=tags, source=f"{user}!{user}@{user}.{HOST}"
        )
        self._on_loop(lambda: self._broadcast(channel, line))

    def usernotice(self, channel: str, login: str, *, user_id: str, text: str = "") -> None:
        tags = {
            "login": login,
            "user-id": user_id,
            "msg-id": "resub",
            "system-msg": f"{login} subscribed; it's their 3rd month!",
        }
        params = ["#" + channel, text] if text else ["#" + channel]
        line = build_line("USERNOTICE", *params, tags=tags, source=HOST)
        self._on_loop(lambda: self._broadcast(channel, line))

    def user_join(self, channel: str, user: str) -> None:
        line = build_line("JOIN", "#" + channel, source=f"{user}!{user}@{user}.{HOST}")
        self._on_loop(lambda: self._broadcast(channel, line))

    def user_part(self, channel: str, user: str) -> None:
        line = build_line("PART", "#" + channel, source=f"{user}!{user}@{user}.{HOST}")
        self._on_loop(lambda: self._broadcast(channel, line))

    def send_raw(self, data: bytes, *, channel: str | None = None) -> None:
        """Bytes as-is to every live connection (or those in ``channel``)."""

        def go() -> None:
            for c in self.clients:
                if c.alive and not c.silent and (channel is None or channel in c.channels):
                    c.writer.write(data)

        self._on_loop(go)

    def trickle(self, every: float = 0.02) -> None:
        """A hostile server: every live connection gets one byte (never a newline) every
        ``every`` seconds, until it closes; PINGs are no longer answered."""

        async def drip(c: Client) -> None:
            while c.alive:
                c.writer.write(b"x")
                with contextlib.suppress(ConnectionError, OSError):
                    await c.writer.drain()
                await asyncio.sleep(every)  # the pace of the hostile server, not a wait

        def go() -> None:
            for c in self.clients:
                if c.alive:
                    c.silent = True
                    self.loop.create_task(drip(c))

        self._on_loop(go)

    def ping_all(self) -> None:
        self._on_loop(lambda: [c.send(build_line("PING", HOST)) for c in self.clients])

    def reconnect_all(self) -> None:
        """Twitch's maintenance notice: RECONNECT, then the server closes the socket."""

        def go() -> None:
            for c in self.clients:
                if c.alive:
                    c.send(build_line("RECONNECT", source=HOST))
                    c.alive = False
                    c.writer.close()
            self._changed()

        self._on_loop(go)

    def go_silent(self) -> None:
        """Every live connection stops answering (socket left open, PINGs ignored)."""

        def go() -> None:
            for c in self.clients:
                c.silent = True

        self._on_loop(go)

    def drop_all(self) -> None:
        """Close every socket without a word."""

        def go() -> None:
            for c in self.clients:
                if c.alive:
                    c.alive = False
                    c.writer.transport.abort()
            self._changed()

        self._on_loop(go)

    # ------------------------------------------------------------------ protocol

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(len(self.clients), writer)
        with self.cond:
            self.clients.append(client)
            self.cond.notify_all()
        try:
            while client.alive:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace")
                with self.cond:
                    self.lines.append(line)
                if client.silent:
                    continue
                self._command(client, line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            client.alive = False
            writer.close()
            self._changed()

    def _command(self, c: Client, line: str) -> None:
        msg = parse_line(line)
        cmd, p = msg.command, msg.params
        if cmd == "CAP" and p[:1] == ["REQ"]:
            c.caps = p[1].split()
            c.send(build_line("CAP", "*", "ACK", p[1], source=HOST))
        elif cmd == "PASS":
            c.password = p[0]
        elif cmd == "NICK":
            c.nick = p[0]
            if self.refuse_login:
                c.send(build_line("NOTICE", "*", self.refuse_text, source=HOST))
                c.alive = False
                c.writer.close()
                return
            for num, text in (
                ("001", "Welcome, GLHF!"),
                ("002", f"Your host is {HOST}"),
                ("375", "-"),
                ("372", "You are in a maze of twisty passages."),
                ("376", ">"),
            ):
                c.send(build_line(num, c.nick, text, source=HOST))
            c.registered = True
        elif cmd == "PING":
            c.pings += 1
            c.send(build_line("PONG", HOST, *p[-1:], source=HOST))
        elif cmd == "JOIN":
            for ch in p[0].split(","):
                self._join(c, ch.removeprefix("#"))
        elif cmd == "PART":
            ch = p[0].removeprefix("#")
            c.channels.discard(ch)
            c.send(build_line("PART", "#" + ch, source=f"{c.nick}!{c.nick}@{c.nick}.{HOST}"))
        self._changed()

    def _join(self, c: Client, ch: str) -> None:
        now = time.monotonic()
        # Twitch counts JOINs per account when logged in, per connection when anonymous.
        times = self.account_joins.setdefault(c.nick, deque()) if c.password else c.join_times
        while times and now - times[0] >= self.join_window:
            times.popleft()
        if len(times) >= self.join_limit:
            self.tripped = True
            c.send(build_line("NOTICE", "*", "Too many joins; closing.", source=HOST))
            c.alive = False
            c.writer.close()
            return
        times.append(now)
        c.joins.append(ch)
        c.channels.add(ch)
        me = f"{c.nick}!{c.nick}@{c.nick}.{HOST}"
        c.send(build_line("JOIN", "#" + ch, source=me))
        names = " ".join([c.nick, *self.members.get(ch, [])])
        c.send(build_line("353", c.nick, "=", "#" + ch, names, source=f"{c.nick}.{HOST}"))
        c.send(build_line("366", c.nick, "#" + ch, "End of /NAMES list", source=f"{c.nick}.{HOST}"))


def joined_all(server: TwitchServer, channels: Iterable[str]) -> Callable[[], bool]:
    want = set(channels)
    return lambda: want <= server.joined()
