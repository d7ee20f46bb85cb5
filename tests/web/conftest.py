"""Fixtures for the dashboard tests: lakes built once per session, apps, a live server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from weblakes import WebLake, build_web_lake, hostile_lake

from vieweratlas.config import load_settings
from vieweratlas.web import WebOptions, create_app


@pytest.fixture(scope="session")
def web_lake(tmp_path_factory: pytest.TempPathFactory) -> WebLake:
    root = tmp_path_factory.mktemp("weblake")
    return build_web_lake(root / "lake", root / "out")


@pytest.fixture(scope="session")
def xss_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("xsslake")
    (root / "out").mkdir()
    lake, run_id = hostile_lake(root / "lake", root / "out")
    return Path(lake.root), run_id


def make_app(lake: Path, **options: Any) -> Any:
    settings = load_settings(overrides={"lake": str(lake)})
    return create_app(settings, WebOptions(**options))


@pytest.fixture
def client(web_lake: WebLake) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(make_app(web_lake.path)) as c:
        yield c


class LiveServer:
    """uvicorn serving ``app`` in a thread on 127.0.0.1:<free port>."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        ready = threading.Event()
        for _ in range(500):
            if self.server.started:
                ready.set()
                break
            ready.wait(0.02)  # polling the started flag uvicorn sets, not a timing guess
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live(web_lake: WebLake) -> Iterator[LiveServer]:
    with LiveServer(make_app(web_lake.path)) as server:
        yield server


@pytest.fixture
def live_xss(xss_lake: tuple[Path, str]) -> Iterator[LiveServer]:
    with LiveServer(make_app(xss_lake[0])) as server:
        yield server
