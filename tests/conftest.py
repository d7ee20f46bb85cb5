"""Shared fixtures: a fresh lake, no unexpected network, no inherited settings.

System programs a test needs: ``from testkit import require_program`` (tests/testkit.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from vieweratlas.lake import Lake


@pytest.fixture(autouse=True)
def _no_external_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        inet = self.family in (socket.AF_INET, socket.AF_INET6)
        loopback = host in ("127.0.0.1", "::1", "localhost") or str(host).startswith("127.")
        if isinstance(host, str) and inet and not loopback:
            raise AssertionError(f"unexpected network access to {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def lake(lake_dir: Path) -> Iterator[Lake]:
    yield Lake.open(str(lake_dir))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a developer's VIEWERATLAS_* or TWITCH_* settings."""
    for var in list(os.environ):
        if var.startswith(("VIEWERATLAS_", "TWITCH_")):
            monkeypatch.delenv(var)
