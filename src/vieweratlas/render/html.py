"""``atlas.html``: one self-contained, offline, WebGL page (sigma.js + graphology).

The page is a single file: the two libraries (see :mod:`vieweratlas.render.assets`), our own
``js/atlas.js`` and ``js/atlas.css``, and the graph as an inert JSON data block. It makes no
network request, and a Content-Security-Policy forbids it to: scripts and the stylesheet are
allowed by their SHA-256 hash only (no ``'unsafe-inline'``, no ``'unsafe-eval'``),
``connect-src 'none'``, images only from ``data:``.

Every string from the data is untrusted. The JSON is embedded with ``<``, ``>``, ``&`` and
U+2028/U+2029 escaped, so no string can close the ``<script>`` element or open a comment; the
page script puts strings into the DOM through ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from vieweratlas.errors import VieweratlasError
from vieweratlas.render.assets import AssetsMissingError, vendor_scripts
from vieweratlas.render.model import COLOURED_COMMUNITIES, UNCLUSTERED_COLOR, AtlasData

log = logging.getLogger(__name__)

__all__ = ["MAX_HTML_EDGES", "embed_json", "render_html"]

MAX_HTML_EDGES = 100_000
SIMILAR_IN_TOOLTIP = 6
_JS_DIR = Path(__file__).resolve().parent / "js"
_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def embed_json(value: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``.

    The characters that could end the element (``</script>``), start a comment or
    ``<script`` escape state, or break a JavaScript string literal are written as
    ``\\uXXXX`` escapes, which ``JSON.parse`` reads back unchanged.
    """
    text = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_jsonable
    )
    return text.translate(_JSON_ESCAPES)


def _jsonable(value: Any) -> Any:
    """NumPy scalars as Python numbers (non-finite as null); anything else as its string."""
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item
    return str(value)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _coords(values: np.ndarray, lo: float, span: float) -> list[float]:
    scaled = (np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) - lo) / span * 1000.0
    return [round(v, 1) for v in scaled.tolist()]


def _payload(data: AtlasData) -> dict[str, Any]:
    x = np.nan_to_num(data.x)
    y = np.nan_to_num(data.y)
    span = max(float(np.ptp(x)) if x.size else 0.0, float(np.ptp(y)) if y.size else 0.0) or 1.0
    lox = float(x.min()) if x.size else 0.0
    loy = float(y.min()) if y.size else 0.0
    chosen = np.sort(data.strongest_edges(MAX_HTML_EDGES))
    weight = np.nan_to_num(data.weight[chosen])
    top = data.top_neighbours(SIMILAR_IN_TOOLTIP)
    counts = dict(data.summary.get("counts") or {})
    xs, ys = _coords(x, lox, span), _coords(y, loy, span)
    nodes: dict[str, Any] = {
        "key": data.key,
        "label": data.label,
        "community": data.community.tolist(),
        "viewers": data.viewers.tolist(),
        "game": data.game,
        "language": data.language,
        "title": [None if t is None else t[:200] for t in data.title],
        "x": xs,
        "y": ys,
        "top": [[v for pair in row for v in pair] for row in top],
    }
    # Optional columns, present only when the run has them (the page works without).
    if len(data.platforms) > 1:
        nodes["platform"] = data.platform
    if data.confidence is not None:
        nodes["confidence"] = [
            None if not math.isfinite(v) else round(v, 3) for v in data.confidence.tolist()
        ]
    if data.bridge is not None:
        nodes["bridge"] = data.bridge.tolist()
    if data.subcommunity is not None:
        nodes["sub"] = data.subcommunity
    return {
        "meta": {
            "window": data.summary.get("window"),
            "counts": counts,
            "modularity": _finite(data.summary.get("modularity")),
            "algorithm": data.summary.get("algorithm"),
            "edges_total": int(data.src.size),
        },
        "unclustered_color": UNCLUSTERED_COLOR,
        "coloured": COLOURED_COMMUNITIES,
        "communities": _communities(data, np.array(xs), np.array(ys)),
        "nodes": nodes,
        "edges": {
            "s": data.src[chosen].tolist(),
            "t": data.dst[chosen].tolist(),
            "w": [float(f"{w:.4g}") for w in weight.tolist()],
            "shared": data.shared[chosen].tolist(),
        },
    }


def _communities(data: AtlasData, xs: np.ndarray, ys: np.ndarray) -> list[dict[str, Any]]:
    """Legend rows, biggest first, each with the median position of its members (the spot
    where the map writes its name)."""
    mx, my = _group_median(data.community, xs), _group_median(data.community, ys)
    rows = []
    for c in data.communities:
        at = (mx.get(c.id), my.get(c.id))
        rows.append({"id": c.id, "label": c.label, "color": c.color, "size": c.size,
                     "viewers": c.viewers, "x": at[0], "y": at[1]})  # fmt: skip
    return rows


def _group_median(group: np.ndarray, values: np.ndarray) -> dict[int, float]:
    """Median of ``values`` per group id (one sort, no loop over groups' members)."""
    if not group.size:
        return {}
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], g.size]
    lo, hi = v[(starts + ends - 1) // 2], v[(starts + ends) // 2]
    return {int(k): round(float(m), 1) for k, m in zip(g[starts], (lo + hi) / 2, strict=True)}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _header(data: AtlasData) -> tuple[str, str]:
    counts = dict(data.summary.get("counts") or {})
    window = dict(data.summary.get("window") or {})
    since = str(window.get("since") or "?")[:16].replace("T", " ")
    until = str(window.get("until") or "?")[:16].replace("T", " ")
    meta = (
        f"{since} → {until} UTC · {int(counts.get('channels', data.n)):,} channels · "
        f"{int(counts.get('edges', data.src.size)):,} links · "
        f"{int(counts.get('communities', len(data.communities))):,} communities"
    )
    if data.src.size > MAX_HTML_EDGES:
        meta += f" (strongest {MAX_HTML_EDGES:,} links drawn)"
    return f"ViewerAtlas {since} → {until}", meta


def render_html(data: AtlasData) -> str:
    """The whole page as a string."""
    try:
        vendor = vendor_scripts()
    except AssetsMissingError as exc:
        raise VieweratlasError(str(exc)) from exc
    app = (_JS_DIR / "atlas.js").read_text(encoding="utf-8")
    css = (_JS_DIR / "atlas.css").read_text(encoding="utf-8")
    scripts = [*vendor, app]
    for source in scripts:
        if "</script" in source.lower() or "<!--" in source:
            raise VieweratlasError("a bundled script contains '</script' or '<!--'")
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_csp_hash(s) for s in scripts),
            "style-src " + _csp_hash(css),
            "img-src data:",
            "font-src 'none'",
            "connect-src 'none'",
            "worker-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    title, meta = _header(data)
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{css}</style>
</head>
<body>
<aside id="panel">
<header><h1>ViewerAtlas</h1>
<button id="panel-toggle" class="small" type="button" aria-expanded="false"
 aria-controls="panel-more">menu</button>
<div class="meta">{html.escape(meta)}</div></header>
<div class="block">
<label for="search">Find a channel, game or language</label>
<input id="search" type="search" autocomplete="off" spellcheck="false"
 placeholder="channel, game or language…">
<ul id="results" hidden></ul>
</div>
<div id="panel-more">
<div class="block">
<label for="weight">Link strength</label>
<input id="weight" type="range" min="0" max="99" step="1" value="0">
<div id="weight-value"></div>
</div>
<div class="block" id="colour-block" hidden>
<label for="colour-by">Colour by</label>
<select id="colour-by"><option value="community">community</option>
<option value="sub">sub-community</option></select>
</div>
<div id="legend">
<div class="legend-head"><span>Communities</span>
<button id="legend-all" class="small" type="button">all</button>
<button id="legend-none" class="small" type="button">none</button></div>
<ul id="legend-list"></ul>
</div>
</div>
</aside>
<main id="main">
<div id="graph"></div>
<div id="community-labels" aria-hidden="true"></div>
<button id="reset" class="small" type="button">reset view</button>
<div id="tooltip" hidden></div>
</main>
<script type="application/json" id="atlas-data">{embed_json(_payload(data))}</script>
"""
    return body + "".join(f"<script>{s}</script>\n" for s in scripts) + "</body>\n</html>\n"
