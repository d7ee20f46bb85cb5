"""atlas.html in Debian's headless Chromium: offline, no errors, names on the map, tooltip,
search, URL state, legend, narrow screens, optional columns, XSS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pyarrow as pa
import pytest
from render_graphs import atlas_tables, planted_graph

from testkit import WATCH_CSP, XSS_IMG, XSS_SCRIPT
from vieweratlas.render import write_atlas

pytestmark = pytest.mark.browser


@dataclass
class Session:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def open_atlas(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(path: Path, *, width: int = 1280, height: int = 800, fragment: str = "") -> Session:
        context = chromium.new_context(viewport={"width": width, "height": height})
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
        page.goto(path.as_uri() + fragment)
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
    first = page.locator("#legend-list button.legend-item").first
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
    pressed = page.locator("#legend-list button.legend-item").evaluate_all(
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

    # The community names drawn on the map are text too.
    overlay = page.text_content("#community-labels")
    assert XSS_IMG in overlay and XSS_SCRIPT in overlay
    # A hostile name in the address selects that channel, and its similar-audience links
    # are plain text buttons.
    page.evaluate("atlas.select(null)")
    page.evaluate(f"location.hash = '#channel=' + encodeURIComponent({XSS_SCRIPT!r})")
    page.wait_for_function(f"() => atlas.state.selected === atlas.find({XSS_SCRIPT!r})")
    page.wait_for_selector("#tooltip.pinned:not([hidden])")
    assert XSS_SCRIPT in page.text_content("#tooltip .tt-name")
    links = page.locator("#tooltip .tt-go").all_text_contents()
    assert links and all("<" not in t or t in (XSS_IMG, XSS_SCRIPT) for t in links)
    page.fill("#search", "<img")
    page.wait_for_selector("#results button")

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


def _visible_rects(page: Any, selector: str) -> list[dict[str, float]]:
    return page.locator(selector).evaluate_all(
        """els => els.filter(e => !e.hidden && e.offsetWidth > 0).map(e => {
            const r = e.getBoundingClientRect();
            return {l: r.left, r: r.right, t: r.top, b: r.bottom, text: e.textContent};
        })"""
    )


def test_names_on_the_map(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html")
    page = session.page
    # Overview: community names are drawn, the biggest one among them, none overlapping,
    # each inside the map.
    names = _visible_rects(page, "#community-labels .community-label")
    biggest = page.text_content("#legend-list .legend-label")
    assert biggest in [n["text"] for n in names]
    assert len(names) >= 4
    graph = page.locator("#graph").bounding_box()
    for i, a in enumerate(names):
        assert graph["x"] <= a["l"] and a["r"] <= graph["x"] + graph["width"] + 1
        for b in names[i + 1 :]:
            assert a["r"] <= b["l"] or b["r"] <= a["l"] or a["b"] <= b["t"] or b["b"] <= a["t"]
    overview = page.evaluate("atlas.renderer.getNodeDisplayedLabels().size")

    # Zoomed in on the biggest channel: channel names appear, that channel's among them.
    big = page.evaluate(
        """atlas.graph.nodes().sort((a, b) => atlas.graph.getNodeAttribute(b, 'size')
                                           - atlas.graph.getNodeAttribute(a, 'size'))[0]"""
    )
    page.evaluate(
        f"""(() => {{ const d = atlas.renderer.getNodeDisplayData('{big}');
            atlas.renderer.getCamera().setState({{x: d.x, y: d.y, ratio: 0.2}});
            atlas.renderer.refresh(); }})()"""
    )
    page.wait_for_function("(k) => atlas.renderer.getNodeDisplayedLabels().has(k)", arg=big)
    zoomed = page.evaluate("atlas.renderer.getNodeDisplayedLabels().size")
    assert zoomed > overview
    assert session.errors == []
    assert session.requests == []


def test_tooltip_lists_similar_channels_and_moves_to_them(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html", fragment="#channel=chan0012")
    page = session.page
    # The URL opened that channel.
    index = page.evaluate("atlas.find('chan0012')")
    page.wait_for_function("(i) => atlas.state.selected === i", arg=index)
    page.wait_for_selector("#tooltip.pinned:not([hidden])")
    rows = page.locator("#tooltip .tt-top tr").evaluate_all(
        "trs => trs.slice(1).map(tr => [...tr.cells].map(c => c.textContent))"
    )
    assert len(rows) >= 3
    own = int(page.evaluate("JSON.parse(document.getElementById('atlas-data').textContent)"
                            f".nodes.viewers[{index}]"))  # fmt: skip
    for _name, shared, of_this, of_theirs in rows:
        assert of_this.endswith("%") and of_theirs.endswith("%")
        expected = 100 * int(shared.replace(",", "")) / own
        assert float(of_this.rstrip(" %")) == pytest.approx(expected, abs=0.6)
    # A click on a similar channel moves there: selected, named, in the URL.
    target = page.locator("#tooltip .tt-go").nth(1)
    other = int(target.get_attribute("data-node"))
    name = target.text_content()
    page.wait_for_timeout(500)  # the camera animation of the first selection
    target.click()
    page.wait_for_function("(i) => atlas.state.selected === i", arg=other)
    assert page.text_content("#tooltip .tt-name") == name
    assert page.evaluate("location.hash") == "#channel=" + name
    # … and the camera went to it: the channel is in the middle of the map.
    page.wait_for_timeout(600)
    point = page.evaluate(f"atlas.viewportOf({other})")
    box = page.locator("#graph").bounding_box()
    assert abs(point["x"] - box["width"] / 2) < box["width"] * 0.1
    assert abs(point["y"] - box["height"] / 2) < box["height"] * 0.1
    # Clicking the empty stage clears the selection and the URL.
    page.evaluate("atlas.select(null)")
    assert session.errors == []
    assert session.requests == []


def test_search_by_game_and_language_and_no_match(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html")
    page = session.page
    page.fill("#search", "game 3")
    page.wait_for_selector("#results button")
    subs = page.locator("#results .result-sub").all_text_contents()
    assert subs and all("Game 3" in s for s in subs)
    page.press("#search", "Enter")
    page.wait_for_function("() => atlas.state.selected !== null")
    assert "Game 3" in page.text_content("#tooltip")
    page.fill("#search", "EN")
    page.wait_for_selector("#results button")
    assert page.locator("#results button").count() > 0
    page.fill("#search", "no such thing")
    page.wait_for_selector("#results .no-match")
    assert page.text_content("#results") == "no match"
    assert page.locator("#results button").count() == 0
    assert session.errors == []


def test_legend_only_zooms_to_the_community(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html")
    page = session.page
    row = page.locator("#legend-list .legend-row").nth(2)
    community = int(row.locator(".legend-item").get_attribute("data-community"))
    row.hover()
    row.locator(".legend-only").click()
    page.wait_for_timeout(700)
    assert page.evaluate("atlas.renderer.getCamera().getState().ratio") < 0.9
    box = page.locator("#graph").bounding_box()
    points = page.evaluate(
        f"""atlas.graph.filterNodes((k, a) => a.community === {community})
            .map(k => atlas.viewportOf(+k))"""
    )
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    # The community fills a good part of the view, and all of it is inside.
    assert min(xs) >= -5 and max(xs) <= box["width"] + 5
    assert min(ys) >= -5 and max(ys) <= box["height"] + 5
    assert max(max(xs) - min(xs), max(ys) - min(ys)) > 0.4 * min(box["width"], box["height"])
    assert session.errors == []


def test_phone_width_keeps_the_map_usable(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html", width=420, height=800)
    page = session.page
    graph = page.locator("#graph").bounding_box()
    assert graph["width"] >= 400 and graph["height"] >= 450
    assert not page.locator("#legend").is_visible()  # folded away
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.click("#panel-toggle")
    assert page.locator("#legend").is_visible()
    page.click("#panel-toggle")
    page.fill("#search", "chan0012")
    page.press("#search", "Enter")
    page.wait_for_selector("#tooltip.pinned:not([hidden])")
    tip = page.locator("#tooltip").bounding_box()
    assert tip["x"] >= 0 and tip["x"] + tip["width"] <= 420
    _not_blank(page.screenshot())
    assert session.errors == []
    assert session.requests == []


def test_platforms_confidence_bridges_and_subcommunities(open_atlas: Any, tmp_path: Path) -> None:
    g = planted_graph(n=60, k=3, edges=500, seed=8)
    nodes, edges, communities, summary = atlas_tables(g)
    names = nodes.column("channel").to_pylist()
    platform = ["kick" if i % 2 else "twitch" for i in range(g.n)]
    names[1] = names[0]  # the same name on two platforms: two channels
    rng = np.random.default_rng(0)
    nodes = nodes.set_column(0, "channel", pa.array(names)).add_column(
        0, "platform", pa.array(platform)
    )
    nodes = nodes.append_column("confidence", pa.array(rng.uniform(0.3, 1.0, g.n)))
    nodes = nodes.append_column("bridge", pa.array([i % 7 == 0 for i in range(g.n)]))
    nodes = nodes.append_column("subcommunity", pa.array(g.membership * 10 + np.arange(g.n) % 2))
    edges = edges.append_column(
        "source_platform", pa.array([platform[i] for i in g.src])
    ).append_column("target_platform", pa.array([platform[i] for i in g.dst]))
    edges = edges.set_column(0, "source", pa.array([names[i] for i in g.src]))
    edges = edges.set_column(1, "target", pa.array([names[i] for i in g.dst]))
    write_atlas(tmp_path, nodes, edges, communities, summary)
    session = open_atlas(tmp_path / "atlas.html", fragment=f"#channel=kick/{names[1]}")
    page = session.page
    page.wait_for_function("() => atlas.state.selected === 1")
    tooltip = page.text_content("#tooltip")
    assert "kick" in tooltip and "confidence" in tooltip
    assert page.evaluate("atlas.graph.degree('1')") == int((g.src == 1).sum() + (g.dst == 1).sum())
    page.evaluate("atlas.select(0)")
    assert "bridge" in page.text_content("#tooltip")  # node 0 is a planted bridge
    page.evaluate("atlas.select(null)")
    colours = f"""new Set(atlas.graph.filterNodes((k, a) => a.community === {int(g.membership[0])})
        .map(k => atlas.renderer.getNodeDisplayData(k).color)).size"""
    assert page.evaluate(colours) == 1
    page.select_option("#colour-by", "sub")
    assert page.evaluate(colours) == 2  # two sub-communities, two shades
    assert session.errors == []


def test_without_optional_columns_nothing_extra_shows(open_atlas: Any, atlas_dir: Path) -> None:
    session = open_atlas(atlas_dir / "atlas.html", fragment="#channel=twitch/chan0003")
    page = session.page
    page.wait_for_function("() => atlas.state.selected === atlas.find('chan0003')")
    tooltip = page.text_content("#tooltip .tt-rows")
    for word in ("platform", "confidence", "bridge", "sub-community"):
        assert word not in tooltip
    assert not page.locator("#colour-block").is_visible()
    assert session.errors == []


def test_many_communities_colour_the_largest_and_name_the_rest_on_zoom(
    open_atlas: Any, tmp_path: Path
) -> None:
    g = planted_graph(n=600, k=40, edges=6000, seed=12)
    write_atlas(tmp_path, *atlas_tables(g))
    session = open_atlas(tmp_path / "atlas.html")
    page = session.page
    shown = "[...document.querySelectorAll('.community-label')].filter(e => !e.hidden)"
    overview = page.evaluate(f"{shown}.map(e => e.classList.contains('muted'))")
    assert overview and not any(overview)  # only the coloured (largest) communities
    # Zoomed in on a muted community, its name appears.
    muted = page.evaluate("+document.querySelector('.community-label.muted').dataset.community")
    page.evaluate(
        f"""(() => {{ const k = atlas.graph.filterNodes((n, a) => a.community === {muted})[0];
            const d = atlas.renderer.getNodeDisplayData(k);
            atlas.renderer.getCamera().setState({{x: d.x, y: d.y, ratio: 0.3}});
            atlas.renderer.refresh(); }})()"""
    )
    page.wait_for_function(
        "(c) => !document.querySelector(`.community-label[data-community='${c}']`).hidden",
        arg=muted,
    )
    assert session.errors == []
