"""atlas.html without a browser: safe JSON embedding, strict CSP, self-contained, size."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from render_graphs import Planted, atlas_tables, planted_graph

from vieweratlas.render import assets
from vieweratlas.render.html import MAX_HTML_EDGES, embed_json, render_html
from vieweratlas.render.model import COLOURED_COMMUNITIES, build_atlas_data, community_palette

SCRIPT_RE = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)


@given(st.text())
def test_embedded_json_cannot_break_out(text: str) -> None:
    embedded = embed_json({"s": text, "list": [text]})
    lowered = embedded.lower()
    assert "</" not in embedded
    assert "<!--" not in embedded
    assert "<script" not in lowered
    assert "\u2028" not in embedded and "\u2029" not in embedded
    assert json.loads(embedded) == {"s": text, "list": [text]}


def test_breakout_strings_round_trip() -> None:
    for text in ["</script><script>alert(2)</script>", "<!--<script>", "&lt;\u2028\u2029"]:
        embedded = embed_json(text)
        assert "<" not in embedded and ">" not in embedded and "&" not in embedded
        assert json.loads(embedded) == text


def _page(atlas_dir: Path) -> str:
    return (atlas_dir / "atlas.html").read_text(encoding="utf-8")


def test_page_is_self_contained(atlas_dir: Path) -> None:
    page = _page(atlas_dir)
    # No external resource of any kind: every script is inline, no src/href to anything.
    assert not re.search(r"<(script|img|link|iframe)[^>]*\s(src|href)=", page, re.I)
    assert "@import" not in page
    scripts = SCRIPT_RE.findall(page)
    assert scripts[0][0].strip() == 'type="application/json" id="atlas-data"'
    assert len(scripts) == 4  # data, graphology, sigma, our app


def test_csp_is_strict_and_hashes_every_script(atlas_dir: Path) -> None:
    page = _page(atlas_dir)
    match = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert match
    csp = match.group(1).replace("&#x27;", "'")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert directives["connect-src"] == ["'none'"]
    assert directives["img-src"] == ["data:"]
    assert "unsafe" not in csp
    hashes = set(directives["script-src"])
    for attrs, body in SCRIPT_RE.findall(page):
        if "application/json" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in hashes
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert directives["style-src"] == [f"'sha256-{digest}'"]


def test_payload_has_every_node_and_thins_edges() -> None:
    g = planted_graph(n=50, k=2, edges=400, seed=4)
    data = build_atlas_data(*atlas_tables(g))
    page = render_html(data)
    raw = re.search(r'id="atlas-data">(.*?)</script>', page, re.S)
    assert raw
    payload = json.loads(raw.group(1))
    assert len(payload["nodes"]["key"]) == g.n
    assert len(payload["edges"]["s"]) == min(len(g.src), MAX_HTML_EDGES)
    xs = np.array(payload["nodes"]["x"])
    assert xs.min() >= 0 and xs.max() <= 1000
    # Tooltip neighbours: pairs (index, shared), most similar audience first (cosine of the
    # two audiences, so the biggest channel is not everyone's first entry).
    viewers = np.array(payload["nodes"]["viewers"], dtype=float)
    for node, top in enumerate(payload["nodes"]["top"]):
        others, shared = np.array(top[0::2]), np.array(top[1::2], dtype=float)
        cosine = shared / np.sqrt(viewers[node] * viewers[others])
        assert np.all(np.diff(cosine) <= 1e-12)
    firsts = [top[0] for top in payload["nodes"]["top"] if top]
    assert len(set(firsts)) > 5
    # Community names are placed at their members' median position.
    for c in payload["communities"]:
        members = np.array(payload["nodes"]["community"]) == c["id"]
        assert c["x"] == pytest.approx(np.median(xs[members]), abs=0.1)


def test_missing_bundles_give_a_one_line_error(tmp_path: Path, monkeypatch: Any) -> None:
    from vieweratlas.errors import VieweratlasError
    from vieweratlas.render import html

    monkeypatch.setattr(html, "vendor_scripts", lambda: assets.vendor_scripts(tmp_path))
    data = build_atlas_data(*atlas_tables(planted_graph(n=20, k=2, edges=60)))
    with pytest.raises(VieweratlasError, match=r"sigma-3\.0\.3\.min\.js") as info:
        render_html(data)
    assert "\n" not in str(info.value)


def test_integrity_is_checked() -> None:
    item = assets.VENDOR[0]
    with pytest.raises(ValueError, match="integrity mismatch"):
        assets._check_integrity(b"not the tarball", item.integrity)
    digest = base64.b64encode(hashlib.sha512(b"x").digest()).decode()
    assets._check_integrity(b"x", f"sha512-{digest}")


def test_installed_bundles_are_the_pinned_libraries() -> None:
    graphology, sigma = assets.vendor_scripts()
    assert "graphology" in graphology and "UndirectedGraph" in graphology
    assert "Sigma" in sigma
    for source in (graphology, sigma):  # the CSP forbids eval: the bundles must not need it
        assert "eval(" not in source and "new Function" not in source


def test_html_stays_under_10_mb_at_5k_nodes_100k_edges() -> None:
    rng = np.random.default_rng(0)
    n, m = 5000, 100_000
    pairs = np.unique(np.sort(rng.integers(0, n, (int(m * 1.1), 2)), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]][:m]
    g = Planted(n, pairs[:, 0], pairs[:, 1], rng.random(len(pairs)),
                rng.integers(1, 10_000, len(pairs)), np.sort(rng.integers(0, 40, n)))  # fmt: skip
    names = [f"some_channel_name_{i}" for i in range(n)]
    nodes, edges, communities, summary = atlas_tables(g, names=names, layout=False)
    page = render_html(build_atlas_data(nodes, edges, communities, summary))
    assert len(page.encode()) < 10_000_000


def test_palette_colours_the_largest_and_mutes_the_rest() -> None:
    import colorsys

    colours = community_palette(60)
    assert len(colours) == len(set(colours[:COLOURED_COMMUNITIES])) + 40
    saturation = [
        colorsys.rgb_to_hls(*(int(c[k : k + 2], 16) / 255 for k in (1, 3, 5)))[2] for c in colours
    ]
    assert min(saturation[:COLOURED_COMMUNITIES]) > 0.25
    assert max(saturation[COLOURED_COMMUNITIES:]) < 0.2
