"""Fixtures for the render tests: planted graphs, a written atlas, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from render_graphs import Planted, atlas_tables, planted_graph

from testkit import launch_chromium
from vieweratlas.render import write_atlas


@pytest.fixture(scope="session")
def planted() -> Planted:
    return planted_graph()


@pytest.fixture(scope="session")
def atlas_dir(tmp_path_factory: pytest.TempPathFactory, planted: Planted) -> Path:
    """The four atlas files of the planted graph, written once for the session."""
    out = tmp_path_factory.mktemp("atlas")
    write_atlas(out, *atlas_tables(planted))
    return out


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as browser:
        yield browser
