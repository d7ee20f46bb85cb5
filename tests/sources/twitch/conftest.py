"""Fixtures for the live IRC tests: the scripted Twitch server and a fake clock."""

from __future__ import annotations

import socket
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from irc_helpers import FakeClock
from twitch_server import TwitchServer

from testkit import require_program


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


@pytest.fixture
def ngircd(tmp_path: Path) -> Iterator[int]:
    """A real ngircd on 127.0.0.1 (foreground, generated config); yields its port."""
    program = require_program("ngircd")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "ngircd.conf"
    motd = tmp_path / "motd"
    motd.write_text("test server\n")
    conf.write_text(
        textwrap.dedent(
            f"""\
            [Global]
                Name = irc.test.local
                Info = ViewerAtlas test server
                Listen = 127.0.0.1
                Ports = {port}
                MotdFile = {motd}
                PidFile = {tmp_path / "ngircd.pid"}
            [Limits]
                MaxJoins = 0
                MaxNickLength = 30
                PingTimeout = 120
                PongTimeout = 20
                ConnectRetry = 60
            [Options]
                DNS = no
                Ident = no
                PAM = no
            """
        )
    )
    proc = subprocess.Popen(
        [program, "--nodaemon", "--config", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    pytest.fail(f"ngircd did not start:\n{out[-2000:]}")
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
