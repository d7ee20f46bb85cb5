"""Fixtures for the live IRC tests: the scripted Twitch server and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from irc_helpers import FakeClock
from twitch_server import TwitchServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))


@pytest.fixture
def twitch_server() -> Iterator[Callable[..., TwitchServer]]:
    servers: list[TwitchServer] = []

    def make(**kwargs: Any) -> TwitchServer:
        server = TwitchServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
