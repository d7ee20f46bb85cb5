r"""Graph exports: ``graph.gexf`` for Gephi, ``graph.json`` in graphology's format.

Both carry every node and edge of the run (the maps thin edges, the exports do not), with
the node attributes platform, community, community label, viewers, game, language, title,
degree, strength and position. Strings from the data are untrusted: the GEXF is XML-escaped
and the JSON is plain ``json.dumps``.

GEXF node ids are the node keys (``channel``, or ``platform/channel`` when platforms mix)
written so that they survive XML: a backslash becomes ``\\``, and a character XML 1.0
cannot hold becomes ``\uXXXX`` (:func:`gexf_id`, undone by :func:`gexf_key`). Tab, newline and
carriage return are written as character references, which XML parsers keep (a literal one
in an attribute is read back as a space). So two channels whose names differ only in control
characters or whitespace keep two ids. Labels carry the display text, with characters XML
cannot hold shown as U+FFFD.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from vieweratlas.fileio import write_atomic
from vieweratlas.render.model import AtlasData

log = logging.getLogger(__name__)

__all__ = [
    "gexf_id",
    "gexf_key",
    "graphology_json",
    "write_atomic",
    "write_gexf",
    "write_graph_json",
]

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, lone surrogates, U+FFFE/F).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
    "\t": "&#9;", "\n": "&#10;", "\r": "&#13;",
}  # fmt: skip
_ESCAPE_RE = re.compile("[&<>\"'\t\n\r]")
_ID_ESCAPE = re.compile(r"[\\\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ID_UNESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


def xml_attr(value: object) -> str:
    """A string safe inside a double-quoted XML attribute, whitespace kept as written."""
    text = _XML_INVALID.sub("\ufffd", str(value))
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text)


def gexf_id(key: str) -> str:
    r"""A node key as a GEXF id: ``\\`` for a backslash, ``\uXXXX`` for what XML can't hold."""
    return _ID_ESCAPE.sub(
        lambda m: "\\\\" if m.group() == "\\" else f"\\u{ord(m.group()):04x}", key
    )


def gexf_key(node_id: str) -> str:
    """The node key back from a GEXF id (the inverse of :func:`gexf_id`)."""
    return _ID_UNESCAPE.sub(
        lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), node_id
    )


def _num(value: float) -> str:
    return repr(round(float(value), 6)) if math.isfinite(value) else "0.0"


_NODE_ATTRS = [
    ("platform", "string"),
    ("community", "integer"),
    ("community_label", "string"),
    ("viewers", "long"),
    ("game", "string"),
    ("language", "string"),
    ("title", "string"),
    ("degree", "integer"),
    ("strength", "double"),
    ("x", "double"),
    ("y", "double"),
]


def _gexf_lines(data: AtlasData) -> Iterator[str]:
    labels = {c.id: c.label for c in data.communities}
    today = datetime.now(UTC).date().isoformat()
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield (
        '<gexf xmlns="http://gexf.net/1.3" xmlns:viz="http://gexf.net/1.3/viz" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n'
    )
    yield f'  <meta lastmodifieddate="{today}">\n'
    yield "    <creator>ViewerAtlas</creator>\n"
    yield "    <description>Channels linked by shared viewers</description>\n  </meta>\n"
    yield '  <graph defaultedgetype="undirected" mode="static">\n'
    yield '    <attributes class="node">\n'
    for i, (name, kind) in enumerate(_NODE_ATTRS):
        yield f'      <attribute id="{i}" title="{name}" type="{kind}"/>\n'
    yield '    </attributes>\n    <attributes class="edge">\n'
    yield '      <attribute id="0" title="shared" type="long"/>\n    </attributes>\n'
    yield "    <nodes>\n"
    vmax = float(data.viewers.max()) if data.n and data.viewers.max() > 0 else 1.0
    for i in range(data.n):
        cid = int(data.community[i])
        values: list[object] = [
            data.platform[i] or None,
            cid,
            labels.get(cid, ""),
            int(data.viewers[i]),
            data.game[i],
            data.language[i],
            data.title[i],
            int(data.degree[i]),
            _num(data.strength[i]),
            _num(data.x[i]),
            _num(data.y[i]),
        ]
        colour = data.color[i]
        r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
        size = 2.0 + 18.0 * math.sqrt(max(int(data.viewers[i]), 0) / vmax)
        node_id = xml_attr(gexf_id(data.key[i]))
        yield f'      <node id="{node_id}" label="{xml_attr(data.label[i])}">\n'
        yield "        <attvalues>\n"
        for k, value in enumerate(values):
            if value is not None:
                yield f'          <attvalue for="{k}" value="{xml_attr(value)}"/>\n'
        yield "        </attvalues>\n"
        yield f'        <viz:color r="{r}" g="{g}" b="{b}"/>\n'
        yield (
            f'        <viz:position x="{_num(data.x[i])}" y="{_num(data.y[i])}" z="0.0"/>\n'
            f'        <viz:size value="{_num(size)}"/>\n      </node>\n'
        )
    yield "    </nodes>\n    <edges>\n"
    ids = [xml_attr(gexf_id(k)) for k in data.key]
    for e, (s, t, shared, weight) in enumerate(
        zip(
            data.src.tolist(),
            data.dst.tolist(),
            data.shared.tolist(),
            data.weight.tolist(),
            strict=True,
        )
    ):
        yield (
            f'      <edge id="{e}" source="{ids[s]}" '
            f'target="{ids[t]}" weight="{_num(weight)}">'
            f'<attvalues><attvalue for="0" value="{shared}"/></attvalues></edge>\n'
        )
    yield "    </edges>\n  </graph>\n</gexf>\n"


def write_gexf(data: AtlasData, path: Path) -> None:
    """Writes GEXF 1.3 (positions, colours, sizes, attributes) atomically to ``path``."""

    def write(handle: IO[bytes]) -> None:
        buffer: list[str] = []
        for line in _gexf_lines(data):
            buffer.append(line)
            if len(buffer) >= 4096:
                handle.write("".join(buffer).encode("utf-8", "replace"))
                buffer.clear()
        handle.write("".join(buffer).encode("utf-8", "replace"))

    write_atomic(path, write)


def graphology_json(data: AtlasData) -> dict[str, Any]:
    """The graph in graphology's serialization format (``Graph.from(...)`` loads it)."""
    labels = {c.id: c.label for c in data.communities}
    nodes = [
        {
            "key": data.key[i],
            "attributes": {
                "label": data.label[i],
                "channel": data.channel[i],
                "platform": data.platform[i] or None,
                "community": int(data.community[i]),
                "community_label": labels.get(int(data.community[i]), ""),
                "viewers": int(data.viewers[i]),
                "game": data.game[i],
                "language": data.language[i],
                "title": data.title[i],
                "degree": int(data.degree[i]),
                "strength": round(float(data.strength[i]), 6),
                "x": round(float(data.x[i]), 4),
                "y": round(float(data.y[i]), 4),
                "color": data.color[i],
            },
        }
        for i in range(data.n)
    ]
    edges = [
        {
            "key": str(e),
            "source": data.key[s],
            "target": data.key[t],
            "undirected": True,
            "attributes": {"shared": shared, "weight": round(weight, 6)},
        }
        for e, (s, t, shared, weight) in enumerate(
            zip(
                data.src.tolist(),
                data.dst.tolist(),
                data.shared.tolist(),
                data.weight.tolist(),
                strict=True,
            )
        )
    ]
    attributes = {
        "name": "ViewerAtlas",
        "window": data.summary.get("window"),
        "counts": data.summary.get("counts"),
        "modularity": data.summary.get("modularity"),
        "algorithm": data.summary.get("algorithm"),
        "communities": [
            {"community": c.id, "label": c.label, "color": c.color, "size": c.size,
             "viewers": c.viewers}
            for c in data.communities
        ],
    }  # fmt: skip
    return {
        "attributes": attributes,
        "options": {"type": "undirected", "multi": False, "allowSelfLoops": False},
        "nodes": nodes,
        "edges": edges,
    }


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return value.item()
    return str(value)


def write_graph_json(data: AtlasData, path: Path) -> None:
    """Writes :func:`graphology_json` atomically to ``path``."""
    payload = json.dumps(
        graphology_json(data), ensure_ascii=False, separators=(",", ":"), default=_jsonable
    )
    write_atomic(path, lambda handle: handle.write(payload.encode("utf-8", "replace")))
