"""atlas.png: written, a real picture (not blank), robust to hostile labels."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
from render_graphs import atlas_tables, planted_graph

from vieweratlas.render.model import build_atlas_data
from vieweratlas.render.png import render_png


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
