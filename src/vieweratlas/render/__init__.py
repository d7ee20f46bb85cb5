"""Rendering a run: the layout, and the atlas files (PNG, SVG, HTML, GEXF, graphology JSON).

:func:`compute_layout` is pure (arrays in, positions out); :func:`write_atlas` is the adapter
that writes the atlas files (:data:`ATLAS_FILES`) into a run's output directory, each
atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from vieweratlas.fileio import write_atomic
from vieweratlas.render.exports import write_gexf, write_graph_json
from vieweratlas.render.html import render_html
from vieweratlas.render.layout import compute_layout, previous_positions
from vieweratlas.render.model import AtlasData, build_atlas_data
from vieweratlas.render.png import render_png, render_svg

log = logging.getLogger(__name__)

__all__ = ["ATLAS_FILES", "compute_layout", "previous_positions", "write_atlas"]

ATLAS_FILES = ("atlas.png", "atlas.svg", "atlas.html", "graph.gexf", "graph.json")


def _png(data: AtlasData, path: Path) -> None:
    write_atomic(path, lambda handle: render_png(data, handle))


def _svg(data: AtlasData, path: Path) -> None:
    write_atomic(path, lambda handle: render_svg(data, handle))


def _html(data: AtlasData, path: Path) -> None:
    page = render_html(data).encode("utf-8", "replace")
    write_atomic(path, lambda handle: handle.write(page))


_WRITERS: dict[str, Callable[[AtlasData, Path], None]] = {
    "atlas.png": _png,
    "atlas.svg": _svg,
    "atlas.html": _html,
    "graph.gexf": write_gexf,
    "graph.json": write_graph_json,
}


def write_atlas(
    out_dir: Path,
    nodes: pa.Table,
    edges: pa.Table,
    communities: pa.Table,
    summary: Mapping[str, Any],
) -> dict[str, float]:
    """Writes atlas.png, atlas.svg, atlas.html, graph.gexf and graph.json into ``out_dir``.

    Each file is written to a temporary file beside its target and renamed into place, so a
    reader never sees half a file. Returns the seconds spent per file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_atlas_data(nodes, edges, communities, summary)
    timings: dict[str, float] = {}
    for name in ATLAS_FILES:
        started = time.perf_counter()
        _WRITERS[name](data, out_dir / name)
        timings[name] = time.perf_counter() - started
        log.info("wrote %s in %.2fs", out_dir / name, timings[name])
    return timings
