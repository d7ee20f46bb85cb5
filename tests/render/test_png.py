"""atlas.png and atlas.svg: real pictures, names that don't overlap, print-sized legend,
robust to hostile labels."""

from __future__ import annotations

import io
from pathlib import Path
from xml.etree import ElementTree

import matplotlib.image as mpimg
import numpy as np
import pytest
from render_graphs import Planted, atlas_tables, planted_graph

from vieweratlas.render import png
from vieweratlas.render.model import AtlasData, build_atlas_data
from vieweratlas.render.png import render_png, render_svg


@pytest.fixture(scope="module")
def planted_data(planted: Planted) -> AtlasData:
    return build_atlas_data(*atlas_tables(planted))


def _pixels(path: Path | io.BytesIO) -> np.ndarray:
    return np.asarray(mpimg.imread(path, format="png"))


def test_png_is_a_picture(atlas_dir: Path) -> None:
    image = _pixels(atlas_dir / "atlas.png")
    assert image.shape[0] >= 1000 and image.shape[1] >= 1000
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # not blank
    # Several community colours show up, not just grey edges on white.
    saturated = (rgb.max(-1) - rgb.min(-1)) > 0.3
    assert saturated.mean() > 0.01
    hues = {tuple((px * 4).round().astype(int)) for px in rgb[saturated][::50]}
    assert len(hues) >= 5


def test_png_with_hostile_and_mathtext_labels() -> None:
    g = planted_graph(n=50, k=3, edges=300, seed=9)
    labels = ["$\\frac{1}{0}$ $$ \\", "</script> & $x^", "日本語 · 🎮"]
    tables = atlas_tables(g, community_labels=labels)
    data = build_atlas_data(*tables)
    buffer = io.BytesIO()
    render_png(data, buffer, size_px=600, dpi=100)
    buffer.seek(0)
    assert _pixels(buffer).std() > 0.05


def test_map_names_biggest_channels_and_legend_is_print_sized(planted_data: AtlasData) -> None:
    data = planted_data
    fig = png._figure(data, 1.0, 100, vector=False)
    ax = fig.axes[0]
    shown = {t.get_text() for t in ax.texts}
    # Every community's name, and each one's biggest channel beside it.
    for comm in data.communities:
        assert comm.label in shown
        members = np.flatnonzero(data.community == comm.id)
        biggest = members[np.argmax(data.viewers[members])]
        assert data.label[biggest] in shown
    # No two names overlap.
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])
    # The legend is readable on paper: ≥ 8 pt on a 12-inch-wide page.
    legend = fig.legends[0]
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 8
    assert fig.get_size_inches()[0] == 12


def test_png_has_little_empty_margin(atlas_dir: Path) -> None:
    rgb = _pixels(atlas_dir / "atlas.png")[..., :3]
    ink = (rgb < 0.97).any(-1)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    # Drawn content spans almost the whole picture in both directions.
    assert (rows[-1] - rows[0]) / ink.shape[0] > 0.93
    assert (cols[-1] - cols[0]) / ink.shape[1] > 0.85  # the legend column ends ragged
    # The map itself (coloured nodes) spans most of the height, not a small island.
    coloured = np.flatnonzero(((rgb.max(-1) - rgb.min(-1)) > 0.3).any(1))
    assert (coloured[-1] - coloured[0]) / ink.shape[0] > 0.8


def test_svg_for_print(atlas_dir: Path, tmp_path: Path) -> None:
    root = ElementTree.parse(atlas_dir / "atlas.svg").getroot()
    assert root.tag.endswith("svg")
    assert root.get("width", "").endswith("pt")
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}image")) == 1  # the edge layer
    assert len(root.findall(f".//{ns}use")) > 100  # nodes and glyphs as vectors
    # Hostile names end up as glyph paths, never as markup.
    g = planted_graph(n=40, k=2, edges=200, seed=3)
    names = ["<script>alert(1)</script>"] + [f"c{i}" for i in range(1, g.n)]
    data = build_atlas_data(*atlas_tables(g, names=names, community_labels=["</svg>", "&x;"]))
    buffer = io.BytesIO()
    render_svg(data, buffer)
    text = buffer.getvalue().decode()
    assert "<script" not in text and "</svg>" in text[-20:]
    ElementTree.fromstring(text)
