"""The dashboard in Debian's headless Chromium, served by uvicorn on loopback: the user's
path through the pages, offline, without errors; hostile names stay text."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest
from weblakes import XSS_IMG, XSS_SCRIPT, LiveServer, WebLake

from testkit import WATCH_CSP, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]


@dataclass
class Session:
    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert self.errors == []
        assert self.outside == []
        assert self.failed == []
        assert self.dialogs == []
        for frame in self.page.frames:
            assert frame.evaluate("window.__csp || []") == [], frame.url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def browse(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(server: LiveServer) -> Session:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        session = Session(page, server.url)

        def route(route: Any) -> None:
            url = route.request.url
            if url.startswith(server.url + "/") or url == server.url:
                route.continue_()
            else:
                session.outside.append(url)
                route.abort()

        context.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and session.errors.append(m.text))
        page.on("pageerror", lambda e: session.errors.append(str(e)))
        # (ERR_ABORTED: a request cut short because the test moved on to the next page)
        page.on(
            "requestfailed",
            lambda r: "ERR_ABORTED" not in (r.failure or "") and session.failed.append(r.url),
        )
        page.on(
            "response", lambda r: r.status >= 400 and session.failed.append(f"{r.status} {r.url}")
        )

        def dialog(d: Any) -> None:
            session.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.add_init_script(WATCH_CSP)
        return session

    yield open_
    for context in contexts:
        context.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> bytes:
    """A screenshot; also saved as docs-ready ``dashboard-<name>.png`` in the folder named by
    ``DASHBOARD_SCREENSHOTS`` when set (that is how the README's pictures are made)."""
    png: bytes = page.screenshot(full_page=full_page)
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"dashboard-{name}.png").write_bytes(png)
    return png


def not_blank(png: bytes) -> None:
    image = np.asarray(mpimg.imread(io.BytesIO(png), format="png"))[..., :3]
    assert image.std() > 0.03
    assert ((image.max(-1) - image.min(-1)) > 0.2).mean() > 0.001  # something coloured


def test_user_path_overview_search_channel_similar_community_evolution(
    browse: Any, live: LiveServer, web_lake: WebLake
) -> None:
    s = browse(live)
    page = s.page
    page.goto(live.url + "/")
    # The run's own interactive atlas, inside the overview, fully drawn.
    atlas = page.frame_locator("#atlas")
    atlas.locator("body[data-ready=true]").wait_for(timeout=30_000)
    not_blank(shot(page, "overview", full_page=False))

    first = page.locator("#top a.channel").first.text_content()
    assert first
    page.fill("#q", first[1:5])
    page.click("form.search button")
    page.wait_for_selector("body[data-page=search]")
    page.locator("#results a.channel", has_text=first).first.click()
    page.wait_for_selector("body[data-page=channel]")
    assert first in page.locator("h1").text_content()
    assert page.locator("#similar tbody tr").count() > 0
    # ranks over the tracked windows: one column per window, a row per similar channel
    assert page.locator("#similar-ranks thead th").count() >= 2
    assert page.locator("#similar-ranks tbody tr").count() > 0
    not_blank(shot(page, "channel"))

    other = page.locator("#similar a.channel").first
    other_name = other.text_content()
    other.click()
    page.wait_for_selector("body[data-page=channel]")
    assert other_name in page.locator("h1").text_content()

    page.locator("dd a.community").first.click()
    page.wait_for_selector("body[data-page=community]")
    assert page.locator("#members tbody tr").count() > 0
    page.locator("#members th a", has_text="channel").click()  # sort by name
    page.wait_for_selector("body[data-page=community]")
    names = page.locator("#members a.channel").all_text_contents()
    assert names == sorted(names, reverse=True) or names == sorted(names)
    not_blank(shot(page, "community"))

    page.click("nav >> text=Evolution")
    page.wait_for_selector("#alluvial")
    page.locator("#alluvial a.block").first.click()
    page.wait_for_selector("#selected")
    not_blank(shot(page, "evolution"))

    page.click("nav >> text=Runs")
    page.wait_for_selector("#runs")
    not_blank(shot(page, "runs"))
    page.locator("#runs a").first.click()
    page.wait_for_selector("#downloads")
    not_blank(shot(page, "run"))
    s.clean()


def test_hostile_names_render_as_text(browse: Any, live_xss: LiveServer) -> None:
    s = browse(live_xss)
    page = s.page
    for path in (
        "/",
        "/channels/twitch/alpha",
        "/channels/twitch/delta",
        "/communities/0",
        "/communities/1",
        "/search?q=" + "img",
        "/search?q=alpha",
        "/evolution",
        "/evolution?lineage=L1",
        "/runs",
    ):
        page.goto(live_xss.url + path)
        page.wait_for_load_state("load")
        text = page.locator("body").inner_text()
        assert XSS_IMG in text or XSS_SCRIPT in text, path
        # nothing the data carried became an element: no <img>, no <script> anywhere
        assert page.evaluate("document.querySelectorAll('img, script').length") == 0, path
    page.goto(live_xss.url + "/")
    page.frame_locator("#atlas").locator("body[data-ready=true]").wait_for(timeout=30_000)
    frame = page.frame_locator("#atlas")
    assert frame.locator("img").count() == 0
    s.clean()
