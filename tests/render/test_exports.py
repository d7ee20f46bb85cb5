"""write_atlas and the exports: four files, atomic, GEXF that parses, graphology JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest
from render_graphs import Planted, atlas_tables, planted_graph

from vieweratlas.render import ATLAS_FILES, write_atlas
from vieweratlas.render.exports import gexf_key

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    "quote\" & 'apos' ]]> <!-- comment",
    "bell\x07 nul\x00 and \U0001f600 \u2028 line",
]


def test_write_atlas_writes_four_files_atomically(atlas_dir: Path) -> None:
    names = sorted(p.name for p in atlas_dir.iterdir())
    assert names == sorted(ATLAS_FILES)  # no temp file left behind
    for name in ATLAS_FILES:
        assert (atlas_dir / name).stat().st_size > 1000


def test_write_atlas_returns_timings(tmp_path: Path) -> None:
    g = planted_graph(n=60, k=3, edges=400, seed=2)
    timings = write_atlas(tmp_path / "new" / "dir", *atlas_tables(g))
    assert set(timings) == set(ATLAS_FILES)
    assert all(t >= 0 for t in timings.values())
    assert (tmp_path / "new" / "dir" / "atlas.png").exists()


def test_a_failing_writer_leaves_no_partial_file(tmp_path: Path, monkeypatch: Any) -> None:
    from vieweratlas import render

    def boom(data: object) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(render, "render_html", boom)
    (tmp_path / "atlas.html").write_text("previous run")
    with pytest.raises(RuntimeError, match="crashed"):
        write_atlas(tmp_path, *atlas_tables(planted_graph(n=30, k=2, edges=100)))
    assert (tmp_path / "atlas.html").read_text() == "previous run"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_gexf_parses_with_attributes(atlas_dir: Path, planted: Planted) -> None:
    graph = nx.read_gexf(atlas_dir / "graph.gexf", version="1.3")
    assert graph.number_of_nodes() == planted.n
    assert graph.number_of_edges() == len(planted.src)
    assert not graph.is_directed()
    node = graph.nodes["chan0000"]
    for key in ("community", "community_label", "viewers", "game", "language", "x", "y"):
        assert key in node, key
    assert node["community"] == int(planted.membership[0])
    # Nodes are labelled by channel; nodes.label (the community's name) is an attribute.
    assert node["label"] == "chan0000"
    assert node["community_label"] == f"Game {planted.membership[0]} · EN"
    assert isinstance(node["viewers"], int)
    assert set(node["viz"]["position"]) >= {"x", "y"}
    assert node["viz"]["position"]["x"] == pytest.approx(node["x"], abs=1e-5)
    communities = {graph.nodes[n]["community"] for n in graph}
    assert communities == set(np.unique(planted.membership).tolist())
    *_, data = next(iter(graph.edges(data=True)))
    assert data["weight"] > 0
    assert data["shared"] > 0


def _hostile_tables() -> tuple[pa.Table, pa.Table, pa.Table, dict[str, object]]:
    g = planted_graph(n=40, k=2, edges=300, seed=5)
    names = [f"chan{i}" for i in range(g.n)]
    names[: len(HOSTILE)] = HOSTILE
    games: list[str | None] = ["Game"] * g.n
    games[: len(HOSTILE)] = HOSTILE[::-1]
    return atlas_tables(
        g, names=names, games=games, titles=list(names), community_labels=HOSTILE[:2]
    )


def test_exports_survive_hostile_strings(tmp_path: Path) -> None:
    write_atlas(tmp_path, *_hostile_tables())
    graph = nx.read_gexf(tmp_path / "graph.gexf", version="1.3")
    assert "<img src=x onerror=alert(1)>" in graph
    assert graph.nodes["</script><script>alert(2)</script>"]["game"] == HOSTILE[2]
    # Characters XML cannot hold are replaced, the rest survives.
    bell = next(n for n in graph if n.startswith("bell"))
    assert "\U0001f600" in bell
    assert "\x00" not in bell
    payload = json.loads((tmp_path / "graph.json").read_text(encoding="utf-8"))
    assert {n["key"] for n in payload["nodes"]} >= set(HOSTILE)


def test_graph_json_is_graphology_serialization(atlas_dir: Path, planted: Planted) -> None:
    payload = json.loads((atlas_dir / "graph.json").read_text(encoding="utf-8"))
    assert set(payload) == {"attributes", "options", "nodes", "edges"}
    assert payload["options"] == {"type": "undirected", "multi": False, "allowSelfLoops": False}
    assert len(payload["nodes"]) == planted.n
    assert len(payload["edges"]) == len(planted.src)
    keys = {n["key"] for n in payload["nodes"]}
    assert len(keys) == planted.n
    first = payload["nodes"][0]
    assert set(first) == {"key", "attributes"}
    assert {"x", "y", "community", "label", "viewers", "color"} <= set(first["attributes"])
    for edge in payload["edges"]:
        assert edge["source"] in keys and edge["target"] in keys
        assert edge["source"] != edge["target"]
    pairs = {frozenset((e["source"], e["target"])) for e in payload["edges"]}
    assert len(pairs) == len(payload["edges"])
    assert payload["attributes"]["counts"]["channels"] == planted.n
    assert [c["size"] for c in payload["attributes"]["communities"]] == sorted(
        np.bincount(planted.membership).tolist(), reverse=True
    )


def test_duplicate_and_unknown_edges_are_dropped(tmp_path: Path) -> None:
    nodes, edges, communities, summary = atlas_tables(planted_graph(n=30, k=2, edges=200))
    first = edges.slice(0, 1).to_pylist()[0]
    extra = pa.Table.from_pylist(
        [
            {**first, "source": first["target"], "target": first["source"]},  # reversed twin
            {**first, "target": "nobody"},
            {**first, "target": first["source"]},  # self loop
        ],
        schema=edges.schema,
    )
    write_atlas(tmp_path, nodes, pa.concat_tables([edges, extra]), communities, summary)
    payload = json.loads((tmp_path / "graph.json").read_text(encoding="utf-8"))
    assert len(payload["edges"]) == edges.num_rows


def test_summary_with_datetimes_and_numpy_values(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    nodes, edges, communities, _ = atlas_tables(planted_graph(n=30, k=2, edges=100))
    summary = {
        "counts": {"channels": np.int64(30), "edges": np.int32(5)},
        "window": {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": None},
        "modularity": np.float64(0.5),
    }
    write_atlas(tmp_path, nodes, edges, communities, summary)
    payload = json.loads((tmp_path / "graph.json").read_text(encoding="utf-8"))
    assert payload["attributes"]["modularity"] == 0.5
    assert payload["attributes"]["window"]["since"].startswith("2026-01-01")
    assert "2026-01-01" in (tmp_path / "atlas.html").read_text(encoding="utf-8")


def test_empty_graph(tmp_path: Path) -> None:
    nodes, edges, communities, summary = atlas_tables(planted_graph(n=30, k=2, edges=200))
    timings = write_atlas(
        tmp_path, nodes.slice(0, 0), edges.slice(0, 0), communities.slice(0, 0), summary
    )
    assert set(timings) == set(ATLAS_FILES)
    assert nx.read_gexf(tmp_path / "graph.gexf", version="1.3").number_of_nodes() == 0


def test_gexf_ids_stay_unique_and_round_trip(tmp_path: Path) -> None:
    # Names that differ only in control characters, tabs, spaces, newlines or backslashes:
    # XML cannot hold most controls, and a parser reads a literal tab in an attribute as a
    # space, so naive ids collapse.
    stems = ["a b", "a\tb", "a\nb", "a\rb", "a\x01b", "a\x02b", "a\x1fb", "a\\b", "a\\u0001b",
             "a\\\\b", "a  b", "a\u2028b"]  # fmt: skip
    names = [f"{stem}{i // len(stems)}" for i, stem in enumerate(stems * 5)]
    g = planted_graph(n=len(names), k=3, edges=400, seed=11)
    write_atlas(tmp_path, *atlas_tables(g, names=names))
    graph = nx.read_gexf(tmp_path / "graph.gexf", version="1.3")
    assert graph.number_of_nodes() == len(names) == 60
    assert sorted(gexf_key(node) for node in graph) == sorted(names)
    assert graph.number_of_edges() == len(g.src)
    # Labels carry the display text: whitespace as written, what XML cannot hold as U+FFFD.
    for node in graph:
        name = gexf_key(node)
        expected = "".join("\ufffd" if c in "\x01\x02\x1f" else c for c in name)
        assert graph.nodes[node]["label"] == expected
    # Edges join the right channels.
    index = {name: i for i, name in enumerate(names)}
    pairs = {frozenset((index[gexf_key(a)], index[gexf_key(b)])) for a, b in graph.edges()}
    assert pairs == {frozenset(p) for p in zip(g.src.tolist(), g.dst.tolist(), strict=True)}


def test_gexf_parses_with_the_standard_library_too(atlas_dir: Path, planted: Planted) -> None:
    root = ElementTree.parse(atlas_dir / "graph.gexf").getroot()
    ns = {"g": "http://gexf.net/1.3"}
    nodes = root.findall(".//g:nodes/g:node", ns)
    assert len(nodes) == planted.n
    assert len({n.get("id") for n in nodes}) == planted.n
