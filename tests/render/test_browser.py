"""atlas.html in Debian's headless Chromium: offline, no errors, search, click, filter, XSS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest
from render_graphs import atlas_tables, planted_graph

from vieweratlas.render import write_atlas

pytestmark = pytest.mark.browser

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(2)</script>"

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


@dataclass
class Session:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def open_atlas(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(path: Path) -> Session:
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = context.new_page()
        session = Session(page)

        def route(route: Any) -> None:
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                session.requests.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith(("file://", "data:")) else session.requests.append(r.url)
            ),
        )
        page.on("console", lambda m: m.type == "error" and session.errors.append(m.text))
        page.on("pageerror", lambda e: session.errors.append(str(e)))

        def dialog(d: Any) -> None:
            session.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.add_init_script(WATCH_CSP)
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        return session

    yield open_
    for context in contexts:
        context.close()


def _not_blank(png: bytes) -> None:
    image = np.asarray(mpimg.imread(__import__("io").BytesIO(png), format="png"))[..., :3]
    assert image.std() > 0.03
    assert ((image.max(-1) - image.min(-1)) > 0.3).mean() > 0.002  # coloured nodes drawn


def _click_node(session: Session, index: int) -> None:
    page = session.page
    point = page.evaluate(f"atlas.viewportOf({index})")
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def test_offline_search_click_screenshot(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html")
    page = session.page
    _not_blank(page.locator("#graph").screenshot())

    page.fill("#search", "chan0012")
    page.wait_for_selector("#results button")
    assert page.locator("#results button").first.text_content().startswith("chan0012")
    page.press("#search", "Enter")
    # (functions, not strings: the page's CSP forbids eval, for Playwright too)
    page.wait_for_function("() => atlas.state.selected !== null")
    index = page.evaluate("atlas.find('chan0012')")
    assert page.evaluate("atlas.state.selected") == index
    page.wait_for_selector("#tooltip:not([hidden])")
    assert "chan0012" in page.text_content("#tooltip")
    assert "viewers" in page.text_content("#tooltip")
    page.wait_for_timeout(500)  # let the camera animation settle before clicking

    # Back to the whole map, then click the biggest other channel on the canvas itself.
    page.click("#reset")
    page.wait_for_function("() => atlas.state.selected === null")
    page.wait_for_timeout(500)
    other = page.evaluate(
        """atlas.graph.nodes().map(Number).filter(i => i !== atlas.find('chan0012'))
            .sort((a, b) => atlas.graph.getNodeAttribute(String(b), 'size')
                          - atlas.graph.getNodeAttribute(String(a), 'size'))[0]"""
    )
    name = page.evaluate(f"atlas.graph.getNodeAttribute('{other}', 'label')")
    _click_node(session, other)
    page.wait_for_function("(i) => atlas.state.selected === i", arg=other)
    assert page.text_content("#tooltip .tt-name") == name
    neighbours = page.evaluate("atlas.graph.neighbors(String(atlas.state.selected)).length")
    dimmed = page.evaluate(
        "atlas.graph.nodes().filter(k => atlas.renderer.getNodeDisplayData(k).label === '').length"
    )
    assert dimmed == page.evaluate("atlas.graph.order") - neighbours - 1
    _not_blank(page.screenshot())

    assert session.errors == []
    assert session.requests == []
    assert page.evaluate("window.__csp") == []


def test_legend_filters_and_slider_thins(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html")
    page = session.page
    first = page.locator("#legend-list button").first
    community = int(first.get_attribute("data-community"))
    first.click()
    assert first.get_attribute("aria-pressed") == "false"
    hidden = page.evaluate(
        f"""atlas.graph.filterNodes((k, a) => a.community === {community})
            .every(k => atlas.renderer.getNodeDisplayData(k).hidden)"""
    )
    assert hidden
    visible_other = page.evaluate(
        f"""atlas.graph.filterNodes((k, a) => a.community !== {community})
            .some(k => !atlas.renderer.getNodeDisplayData(k).hidden)"""
    )
    assert visible_other
    page.click("#legend-all")
    assert first.get_attribute("aria-pressed") == "true"
    # Double-click: only that community stays.
    first.dblclick()
    pressed = page.locator("#legend-list button").evaluate_all(
        "bs => bs.map(b => b.getAttribute('aria-pressed'))"
    )
    assert pressed[0] == "true" and set(pressed[1:]) == {"false"}
    page.click("#legend-all")

    count_hidden = (
        "atlas.graph.edges().filter(k => atlas.renderer.getEdgeDisplayData(k).hidden).length"
    )
    assert page.evaluate(count_hidden) == 0
    page.locator("#weight").fill("90")
    shown = page.evaluate("atlas.graph.size") - page.evaluate(count_hidden)
    assert 0 < shown <= page.evaluate("atlas.graph.size") * 0.11
    assert "strongest" in page.text_content("#weight-value")
    assert session.errors == []
    assert session.requests == []


def test_hostile_names_render_as_text(open_atlas: Any, tmp_path: Path) -> None:
    g = planted_graph(n=40, k=2, edges=300, seed=5)
    names = [f"chan{i}" for i in range(g.n)]
    names[0], names[1] = XSS_IMG, XSS_SCRIPT
    games: list[str | None] = ["Game"] * g.n
    games[0], games[1] = XSS_SCRIPT, XSS_IMG
    titles: list[str | None] = [XSS_IMG + " " + XSS_SCRIPT] * g.n
    tables = atlas_tables(
        g, names=names, games=games, titles=titles, community_labels=[XSS_IMG, XSS_SCRIPT]
    )
    write_atlas(tmp_path, *tables)
    session = open_atlas(tmp_path / "atlas.html")
    page = session.page

    legend = page.text_content("#legend-list")
    assert XSS_IMG in legend and XSS_SCRIPT in legend

    for name, game in [(XSS_IMG, XSS_SCRIPT), (XSS_SCRIPT, XSS_IMG)]:
        page.fill("#search", name[:8])
        page.wait_for_selector("#results button")
        results = page.locator("#results button").all_text_contents()
        assert any(r.startswith(name) for r in results)
        page.locator("#results button", has_text=name).first.click()
        page.wait_for_selector("#tooltip:not([hidden])")
        tooltip = page.text_content("#tooltip")
        assert name in tooltip and game in tooltip
        assert XSS_IMG + " " + XSS_SCRIPT in tooltip  # the title

    # Hover (not click) shows the same text-only tooltip.
    page.click("#reset")
    page.wait_for_timeout(400)
    index = page.evaluate(f"atlas.find({XSS_IMG!r})")
    point = page.evaluate(f"atlas.viewportOf({index})")
    box = page.locator("#graph").bounding_box()
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    assert XSS_IMG in page.text_content("#tooltip .tt-name")

    assert session.dialogs == []
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.scripts.length") == 4
    assert page.evaluate("document.querySelectorAll('[onerror], [onload]').length") == 0
    assert session.errors == []
    assert session.requests == []


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_maps_open_cleanly(open_atlas: Any, tmp_path: Path, n: int) -> None:
    nodes, edges, communities, summary = atlas_tables(planted_graph(n=30, k=2, edges=100))
    write_atlas(tmp_path, nodes.slice(0, n), edges.slice(0, 0), communities.slice(0, n), summary)
    session = open_atlas(tmp_path / "atlas.html")
    page = session.page
    assert page.evaluate("atlas.graph.order") == n
    page.fill("#search", "chan")
    page.press("#search", "Enter")
    page.locator("#weight").fill("50")
    assert session.errors == []
    assert session.requests == []


def test_tooltip_shows_confidence_and_bridge(open_atlas: Any, planted: Any, tmp_path: Path) -> None:
    import pyarrow as pa

    nodes, edges, communities, summary = atlas_tables(planted)
    confidence = np.linspace(0.5, 1.0, nodes.num_rows)
    bridge = np.zeros(nodes.num_rows, dtype=bool)
    bridge[12] = True
    nodes = nodes.append_column("confidence", pa.array(confidence))
    nodes = nodes.append_column("bridge", pa.array(bridge))
    write_atlas(tmp_path, nodes, edges, communities, summary)
    page = open_atlas(tmp_path / "atlas.html").page
    name = nodes["channel"][12].as_py()
    page.fill("#search", name)
    page.wait_for_selector("#results button")
    page.press("#search", "Enter")
    page.wait_for_selector("#tooltip:not([hidden])")
    text = page.text_content("#tooltip")
    assert f"confidence{confidence[12]:.2f}" in text.replace(" ", "")
    assert "bridge" in text and "2+ communities" in text
