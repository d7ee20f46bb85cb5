"""Rendering a 5,000-channel / 100,000-link atlas: layout, PNG, SVG, HTML, GEXF, JSON.

    uv run python bench/bench_render.py [--nodes 5000] [--edges 100000] [--communities 40]
                                        [--baseline] [--browser] [--out DIR] [--seed 0]

Builds a Twitch-like graph in memory (planted communities of skewed sizes, 85 % of links
inside a community, heavy-tailed viewer counts), then times each stage and prints a table
with the seconds and file sizes. ``--baseline`` also runs networkx's ``forceatlas2_layout``
(a plain global ForceAtlas2, LinLog mode) for 20 iterations on the same graph and
extrapolates it to 100, with the community separation of both layouts (mean distance
within a community / between communities; lower is better). ``--browser`` opens the HTML in
headless Chromium (offline) and times it until the map is drawn. ``--out`` keeps the files.

Stability between adjacent windows: the next window is the same graph with 15 % of its
links gone, the other weights jittered ±30 %, 5 % of its channels new (no earlier
position) and the community ids renumbered. It is laid out twice with the same seed:
seeded from the first window's positions (``compute_layout(previous=…)``) and fresh. The
table gives the mean displacement of the channels present in both windows, as a share of
the map's width, for both (and for the fresh one after the best rotation onto the first,
so the comparison does not just measure an arbitrary turn), and the ratio. "filled" is
the share of members in the outer tenth of their community's radius (a uniformly filled
disc: 0.19; members piled on a rim: 0.4 and more).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa

from vieweratlas.render import compute_layout, previous_positions
from vieweratlas.render.exports import write_gexf, write_graph_json
from vieweratlas.render.html import render_html
from vieweratlas.render.model import build_atlas_data
from vieweratlas.render.png import render_png, render_svg

GAMES = [
    "Just Chatting",
    "League of Legends",
    "Valorant",
    "Minecraft",
    "GTA V",
    "Fortnite",
    "Counter-Strike",
    "Dota 2",
    "Apex Legends",
    "World of Warcraft",
    "Chess",
    "Music",
]
LANGS = ["en", "de", "es", "fr", "pt", "ja", "ko", "ru"]  # fmt: skip
Row = tuple[str, float, str]  # stage, seconds, notes


def make_graph(n: int, m: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """Planted communities (Dirichlet sizes), 85 % internal links, Pareto viewers."""
    rng = np.random.default_rng(seed)
    membership = np.sort(rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 1.5))))
    order = np.argsort(membership, kind="stable")
    starts = np.searchsorted(membership[order], np.arange(k))
    counts = np.bincount(membership, minlength=k)
    # Oversample, then keep m distinct pairs.
    draw = int(m * 1.3)
    src = rng.integers(0, n, draw)
    group = membership[src]
    inside = order[starts[group] + (rng.random(draw) * counts[group]).astype(np.int64)]
    dst = np.where(rng.random(draw) < 0.85, inside, rng.integers(0, n, draw))
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(np.c_[lo, hi][lo != hi], axis=0)
    pairs = pairs[rng.permutation(len(pairs))[:m]]
    viewers = (rng.pareto(1.2, n) * 200 + 20).astype(np.int64)
    shared = np.maximum(1, (np.minimum(viewers[pairs[:, 0]], viewers[pairs[:, 1]])
                            * rng.beta(1, 12, len(pairs)))).astype(np.int64)  # fmt: skip
    weight = shared / np.sqrt(viewers[pairs[:, 0]] * viewers[pairs[:, 1]])
    return {"src": pairs[:, 0], "dst": pairs[:, 1], "shared": shared, "weight": weight,
            "membership": membership, "viewers": viewers}  # fmt: skip


def tables(g: dict[str, np.ndarray], pos: np.ndarray, k: int) -> tuple[pa.Table, ...]:
    n = len(g["membership"])
    names = [f"channel_{i:05d}" for i in range(n)]
    memb = g["membership"]
    nodes = pa.table({
        "channel": names, "community": pa.array(memb, pa.int32()),
        "label": [f"{GAMES[c % len(GAMES)]} · {LANGS[c % len(LANGS)].upper()} #{c}" for c in memb],
        "viewers": pa.array(g["viewers"], pa.int64()),
        "game": [GAMES[c % len(GAMES)] for c in memb],
        "language": [LANGS[c % len(LANGS)] for c in memb],
        "title": [f"stream title {i} !drops" for i in range(n)],
        "x": pos[:, 0], "y": pos[:, 1],
    })  # fmt: skip
    edges = pa.table({
        "source": [names[i] for i in g["src"]], "target": [names[i] for i in g["dst"]],
        "shared": pa.array(g["shared"], pa.int64()), "weight": g["weight"],
    })  # fmt: skip
    sizes = np.bincount(memb, minlength=k)
    communities = pa.table({
        "community": pa.array(np.arange(k), pa.int32()),
        "label": [f"{GAMES[c % len(GAMES)]} · {LANGS[c % len(LANGS)].upper()} #{c}"
                  for c in range(k)],
        "size": pa.array(sizes, pa.int32()),
        "viewers": pa.array(np.bincount(memb, g["viewers"], minlength=k).astype(np.int64)),
        "top_channels": [""] * k, "games": [""] * k, "languages": [""] * k,
    })  # fmt: skip
    return nodes, edges, communities


def separation(pos: np.ndarray, memb: np.ndarray) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(memb), 50_000), rng.integers(0, len(memb), 50_000)
    d = np.linalg.norm(pos[a] - pos[b], axis=1)
    same = (memb[a] == memb[b]) & (a != b)
    return float(d[same].mean() / d[memb[a] != memb[b]].mean())


def rim_share(pos: np.ndarray, memb: np.ndarray) -> float:
    """Mean over communities of the share of members in the outer tenth of its radius."""
    shares = []
    for c in np.unique(memb):
        p = pos[memb == c]
        if len(p) < 20:
            continue
        r = np.linalg.norm(p - np.median(p, axis=0), axis=1)
        shares.append(float((r > 0.9 * r.max()).mean()))
    return float(np.mean(shares))


def next_window(g: dict[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The adjacent window (see the module docstring) and the mask of new channels."""
    rng = np.random.default_rng(seed + 1000)
    keep = rng.random(len(g["src"])) > 0.15
    k = int(g["membership"].max()) + 1
    later = {"src": g["src"][keep], "dst": g["dst"][keep],
             "weight": g["weight"][keep] * rng.uniform(0.7, 1.3, keep.sum()),
             "membership": rng.permutation(k)[g["membership"]]}  # fmt: skip
    return later, rng.random(len(g["membership"])) < 0.05


def displacement(a: np.ndarray, b: np.ndarray, extent: float, *, align: bool = False) -> float:
    if align:  # best rotation/reflection + shift of a onto b (orthogonal Procrustes)
        ca, cb = a.mean(0), b.mean(0)
        u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
        a = (a - ca) @ (u @ vt) + cb
    return float(np.linalg.norm(a - b, axis=1).mean() / extent)


def stability_rows(g: dict[str, np.ndarray], pos: np.ndarray, seed: int) -> list[Row]:
    n = len(g["membership"])
    later, new = next_window(g, seed)
    keys = [f"channel_{i:05d}" for i in range(n)]
    old = np.flatnonzero(~new)
    previous = previous_positions([keys[i] for i in old], pos[old, 0], pos[old, 1])
    args = (n, later["src"], later["dst"], later["weight"], later["membership"])
    t = time.perf_counter()
    seeded = compute_layout(*args, seed=seed, previous=previous, keys=keys)
    seeded_s = time.perf_counter() - t
    t = time.perf_counter()
    fresh = compute_layout(*args, seed=seed)
    fresh_s = time.perf_counter() - t
    extent = float(np.ptp(pos, axis=0).max())
    moved = displacement(seeded[old], pos[old], extent)
    moved_fresh = displacement(fresh[old], pos[old], extent)
    moved_aligned = displacement(fresh[old], pos[old], extent, align=True)
    return [
        ("next window, seeded from the previous positions", seeded_s,
         f"moved {moved:.3f} · filled {rim_share(seeded, later['membership']):.2f}"),
        ("next window, fresh relayout (same seed)", fresh_s,
         f"moved {moved_fresh:.3f} ({moved_fresh / moved:.0f}× seeded)"),
        ("  … fresh, best-rotated onto the previous map", 0.0,
         f"moved {moved_aligned:.3f} ({moved_aligned / moved:.0f}× seeded)"),
    ]  # fmt: skip


def browser_seconds(path: Path) -> float:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader", "--disable-background-networking"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        start = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        seconds = time.perf_counter() - start
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--communities", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    g = make_graph(args.nodes, args.edges, args.communities, args.seed)
    n, m = len(g["membership"]), len(g["src"])
    rows: list[Row] = []

    t = time.perf_counter()
    pos = compute_layout(n, g["src"], g["dst"], g["weight"], g["membership"], seed=args.seed)
    rows.append(("layout (compute_layout)", time.perf_counter() - t,
                 f"separation {separation(pos, g['membership']):.3f} · "
                 f"filled {rim_share(pos, g['membership']):.2f}"))  # fmt: skip
    rows.extend(stability_rows(g, pos, args.seed))

    if args.baseline:
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_weighted_edges_from(zip(g["src"].tolist(), g["dst"].tolist(),
                                          g["weight"].tolist(), strict=True))  # fmt: skip
        warnings.filterwarnings("ignore", category=RuntimeWarning)  # nx divides by 0 distances
        t = time.perf_counter()
        layout = nx.forceatlas2_layout(graph, max_iter=20, weight="weight", linlog=True,
                                       seed=args.seed)  # fmt: skip
        seconds = time.perf_counter() - t
        base = np.array([layout[i] for i in range(n)])
        note = (f"separation {separation(base, g['membership']):.3f} · filled "
                f"{rim_share(base, g['membership']):.2f} after 20 it")  # fmt: skip
        rows.append(("baseline nx.forceatlas2_layout, 100 it (extrapolated)", seconds * 5, note))

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-render-"))
    out.mkdir(parents=True, exist_ok=True)
    nodes, edges, communities = tables(g, pos, args.communities)
    summary = {"counts": {"channels": n, "edges": m, "communities": args.communities,
                          "viewers": int(g["viewers"].sum())},
               "window": {"since": "2026-11-01T00:00:00+00:00",
                          "until": "2026-11-08T00:00:00+00:00"}}  # fmt: skip
    t = time.perf_counter()
    data = build_atlas_data(nodes, edges, communities, summary)
    rows.append(("prepare (tables → arrays)", time.perf_counter() - t, ""))

    t = time.perf_counter()
    render_png(data, out / "atlas.png")
    rows.append(("atlas.png", time.perf_counter() - t, _size(out / "atlas.png")))
    t = time.perf_counter()
    render_svg(data, out / "atlas.svg")
    rows.append(("atlas.svg", time.perf_counter() - t, _size(out / "atlas.svg")))
    t = time.perf_counter()
    (out / "atlas.html").write_text(render_html(data), encoding="utf-8")
    rows.append(("atlas.html", time.perf_counter() - t, _size(out / "atlas.html")))
    t = time.perf_counter()
    write_gexf(data, out / "graph.gexf")
    rows.append(("graph.gexf", time.perf_counter() - t, _size(out / "graph.gexf")))
    t = time.perf_counter()
    write_graph_json(data, out / "graph.json")
    rows.append(("graph.json", time.perf_counter() - t, _size(out / "graph.json")))
    if args.browser:
        rows.append(("atlas.html load in headless Chromium (SwiftShader)",
                     browser_seconds(out / "atlas.html"), "until drawn"))  # fmt: skip

    print(f"\n{n:,} nodes, {m:,} edges, {args.communities} planted communities\n")
    print(f"| {'stage':<56} | {'seconds':>8} | {'notes':<44} |")
    print(f"|{'-' * 58}|{'-' * 10}|{'-' * 46}|")
    for name, seconds, note in rows:
        print(f"| {name:<56} | {seconds:>8.2f} | {note:<44} |")
    if args.out is None:
        shutil.rmtree(out)
    else:
        print(f"\nfiles in {out}", file=sys.stderr)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


if __name__ == "__main__":
    main()
