"""Fixtures for the render tests: planted graphs, a written atlas, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from render_graphs import Planted, atlas_tables, planted_graph

from testkit import CHROMIUM_ARGS, require_program
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
    """Debian's headless Chromium driven by Playwright (never Playwright's own browsers)."""
    executable = require_program("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
