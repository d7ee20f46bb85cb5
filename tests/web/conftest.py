"""Fixtures for the dashboard tests: lakes built once per session, apps, a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from weblakes import LiveServer, WebLake, build_web_lake, hostile_lake, make_app, tracked_lake


@pytest.fixture(scope="session")
def web_lake(tmp_path_factory: pytest.TempPathFactory) -> WebLake:
    root = tmp_path_factory.mktemp("weblake")
    return build_web_lake(root / "lake", root / "out")


@pytest.fixture(scope="session")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with real ``track`` outputs (and one run): its root."""
    root = tmp_path_factory.mktemp("trackedlake")
    tracked_lake(root / "lake", root / "out")
    return root / "lake"


@pytest.fixture(scope="session")
def xss_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("xsslake")
    (root / "out").mkdir()
    lake, run_id = hostile_lake(root / "lake", root / "out")
    return Path(lake.root), run_id


@pytest.fixture
def client(web_lake: WebLake) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(make_app(web_lake.path)) as c:
        yield c


@pytest.fixture
def xss_client(xss_lake: tuple[Path, str]) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(make_app(xss_lake[0])) as c:
        yield c


@pytest.fixture
def live(web_lake: WebLake) -> Iterator[LiveServer]:
    with LiveServer(make_app(web_lake.path)) as server:
        yield server


@pytest.fixture
def live_xss(xss_lake: tuple[Path, str]) -> Iterator[LiveServer]:
    with LiveServer(make_app(xss_lake[0])) as server:
        yield server
