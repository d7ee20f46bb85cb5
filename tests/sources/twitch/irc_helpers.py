"""Helpers for the live-collector tests: a fake clock, settings, waiting with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from vieweratlas.config import Settings, load_settings


class FakeClock:
    """A settable wall clock for the collector's windows."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def live_settings(url: str, lake: str, **collect: Any) -> Settings:
    """Settings for a test collector: fast reconnects, short silence timeout."""
    twitch = collect.pop("twitch", {})
    base: dict[str, Any] = {
        "interval": "1h",
        "silence_timeout": "5s",
        "reconnect_min": "0.05s",
        "reconnect_max": "0.2s",
        "join_window": "0.3s",
        "joins_per_window": 20,
    }
    base.update(collect)
    return load_settings(
        overrides={"lake": lake, "twitch": {"irc_url": url, **twitch}, "collect": base},
        environ={},
    )


async def eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait (yielding to the loop) until ``predicate()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the collector")
        await asyncio.sleep(0.01)


class IrcClient:
    """A plain IRC test client (asyncio streams) that registers, joins, talks and parts."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int) -> IrcClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick} 0 * :{self.nick}")
        await self.expect(" 001 ")
        return self

    def send(self, line: str) -> None:
        assert self.writer is not None
        self.writer.write(line.encode() + b"\r\n")

    async def expect(self, needle: str, timeout: float = 15.0) -> str:
        """Read until a line containing ``needle`` (answering PINGs on the way)."""
        assert self.reader is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise AssertionError(f"{self.nick}: connection closed waiting for {needle!r}")
                line = raw.decode(errors="replace")
                if line.startswith("PING"):
                    self.send("PONG" + line[4:].rstrip())
                if needle in line:
                    return line

    async def join(self, channel: str) -> None:
        self.send(f"JOIN #{channel}")
        await self.expect(f" 366 {self.nick} #{channel}")

    async def part(self, channel: str) -> None:
        self.send(f"PART #{channel}")
        await self.expect(f"PART #{channel}")

    async def say(self, channel: str, text: str) -> None:
        self.send(f"PRIVMSG #{channel} :{text}")

    async def close(self) -> None:
        if self.writer is not None:
            self.send("QUIT :bye")
            self.writer.close()
