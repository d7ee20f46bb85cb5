"""Lakes for the dashboard tests: a real analysed run, a richer twin, tracking, hostile names.

``analysed_lake`` runs ``vieweratlas synth`` + ``analyze`` (the plain run: no similar.parquet,
no memberships). ``add_rich_run`` derives a second run from it with every optional file and
column, its ``similar.parquet`` computed here by brute force from presence (independent of
the product's code). ``add_tracking`` plants lineages over four windows with known flows.
``hostile_lake`` is a hand-written run whose names, games, titles and labels are markup.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from testkit import XSS_IMG, XSS_SCRIPT, run_cli
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.runs import RunInfo, list_runs
from vieweratlas.web import WebOptions, create_app

RICH_RUN = "20991231T235959Z-00c0de"  # created last: the latest run of the lake


@dataclass(frozen=True)
class WebLake:
    path: Path
    plain_run: str
    rich_run: str
    windows: tuple[str, ...]
    lineage: pa.Table  # the planted tracking table
    history: pa.Table  # the planted similar_history.parquet (ranks per window)


def _csv(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return bytes(sink.getvalue())


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue())


def _write_run(lake: Lake, run_id: str, files: dict[str, bytes], summary: dict) -> None:
    summary = {**summary, "run_id": run_id}
    summary.pop("index", None)
    for name, data in files.items():
        lake.write_bytes(f"analysis/{run_id}/{name}", data)
    lake.write_bytes(f"analysis/{run_id}/summary.json", json.dumps(summary).encode())
    info = RunInfo.from_summary(summary, tuple(sorted([*files, "summary.json"])))
    lake.write_bytes(f"runs/{run_id}.json", info.to_json())


def analysed_lake(root: Path, out: Path) -> Lake:
    lake_url = str(root)
    args = ["--channels", "200", "--viewers", "6000", "--communities", "6", "--seed", "11"]
    assert run_cli(["synth", "--lake", lake_url, *args]) == 0
    analyze = ["analyze", "--lake", lake_url, "--out", str(out), "--seed", "1"]
    assert run_cli([*analyze, "--lake-copy", "all"]) == 0  # the Gephi export too
    lake = Lake.open(lake_url)
    # The plain run stands for a run made before similar channels, memberships and the
    # hierarchy existed: the dashboard must do without them.
    (run_id,) = [r.run_id for r in list_runs(lake)]
    for name in ("similar.parquet", "memberships.csv", "memberships.parquet"):
        if lake.exists(f"analysis/{run_id}/{name}"):
            lake.delete(f"analysis/{run_id}/{name}")
    return lake


def brute_similar(lake: Lake, nodes: pa.Table) -> pa.Table:
    """For every pair of run channels: unique viewers seen in both (all presence, no bot
    filter), and the shares; the 30 biggest per channel."""
    presence = lake.read("presence", columns=["channel", "user"])
    wanted = set(nodes["channel"].to_pylist())
    users: dict[str, set[str]] = {c: set() for c in wanted}
    for c, u in zip(presence["channel"].to_pylist(), presence["user"].to_pylist(), strict=True):
        if c in users:
            users[c].add(u)
    names = sorted(wanted)
    total = len(set().union(*users.values()))
    rows: list[dict] = []
    for a in names:
        mine = []
        for b in names:
            if a == b:
                continue
            shared = len(users[a] & users[b])
            if shared:
                mine.append((shared, b))
        mine.sort(key=lambda sb: (-sb[0], sb[1]))
        for shared, b in mine[:30]:
            rows.append(
                {
                    "platform": "twitch",
                    "channel": a,
                    "other_platform": "twitch",
                    "other": b,
                    "shared": shared,
                    "share_of_channel": shared / len(users[a]),
                    "share_of_other": shared / len(users[b]),
                    "lift": shared * total / (len(users[a]) * len(users[b])),
                }
            )
    return pa.Table.from_pylist(rows)


def add_rich_run(lake: Lake, plain: str) -> pa.Table:
    """A second run: the plain one plus similar/memberships and the optional columns."""
    base = f"analysis/{plain}"
    nodes = pq.read_table(lake.path(f"{base}/nodes.parquet"))
    n = nodes.num_rows
    community = nodes["community"].to_numpy()
    if "platform" not in nodes.column_names:  # runs made before identities had a platform
        nodes = nodes.add_column(0, "platform", pa.array(["twitch"] * n))
    # Replaced by planted values the tests know (a real run has them too).
    nodes = nodes.drop_columns(
        [c for c in ("subcommunity", "confidence", "bridge") if c in nodes.column_names]
    )
    nodes = nodes.append_column(
        "subcommunity", pa.array([f"{c}.{i % 2}" for i, c in enumerate(community)])
    )
    nodes = nodes.append_column("confidence", pa.array(np.linspace(0.5, 1.0, n)))
    nodes = nodes.append_column("bridge", pa.array([i % 10 == 0 for i in range(n)]))
    communities = pacsv.read_csv(lake.path(f"{base}/communities.csv"))
    if "parent" in communities.column_names:  # the top level only, planted columns below
        communities = communities.filter(pc.is_null(communities["parent"]))
    communities = communities.drop_columns(
        [c for c in ("parent", "level", "stability") if c in communities.column_names]
    )
    k = communities.num_rows
    communities = communities.append_column("parent", pa.array([None] * k, pa.int64()))
    communities = communities.append_column("stability", pa.array([0.9] * k))
    ids = sorted(set(community.tolist()))
    memberships = []
    for i, (c, ch) in enumerate(zip(community.tolist(), nodes["channel"].to_pylist(), strict=True)):
        memberships.append({"channel": ch, "community": c, "share": 0.7})
        if i % 10 == 0:
            other = ids[(ids.index(c) + 1) % len(ids)]
            memberships.append({"channel": ch, "community": other, "share": 0.25})
    similar = brute_similar(lake, nodes)
    files = {
        "nodes.parquet": _parquet(nodes),
        "nodes.csv": _csv(nodes),
        "edges.parquet": lake.read_bytes(f"{base}/edges.parquet"),
        "edges.csv": lake.read_bytes(f"{base}/edges.csv"),
        "communities.csv": _csv(communities),
        "memberships.csv": _csv(pa.Table.from_pylist(memberships)),
        "similar.parquet": _parquet(similar),
        "atlas.html": lake.read_bytes(f"{base}/atlas.html"),
        "graph.gexf": lake.read_bytes(f"{base}/graph.gexf"),
    }
    summary = json.loads(lake.read_bytes(f"{base}/summary.json"))
    created = datetime.fromisoformat(summary["created_at"]) + timedelta(minutes=1)
    summary["created_at"] = created.isoformat()
    _write_run(lake, RICH_RUN, files, summary)
    return similar


def add_tracking(lake: Lake, nodes: pa.Table) -> tuple[tuple[str, ...], pa.Table]:
    """Four weekly windows: lineage = L<community>; in the third window the two smallest
    communities merge into the first one's lineage; one channel in five skips window two."""
    channels = nodes["channel"].to_pylist()
    community = nodes["community"].to_pylist()
    sizes: dict[int, int] = {}
    for c in community:
        sizes[c] = sizes.get(c, 0) + 1
    smallest = sorted(sizes, key=lambda c: (sizes[c], c))[:2]
    windows = ("2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26")
    rows = []
    for w, window in enumerate(windows):
        for i, (ch, c) in enumerate(zip(channels, community, strict=True)):
            if w == 1 and i % 5 == 0:
                continue
            lineage = f"L{c}"
            if w >= 2 and c == smallest[1]:
                lineage = f"L{smallest[0]}"
            rows.append({"window": window, "platform": "twitch", "channel": ch, "lineage": lineage})
    lineage = pa.Table.from_pylist(rows)
    events = pa.Table.from_pylist(
        [{"window": windows[0], "event": "birth", "lineage": f"L{c}", "detail": ""} for c in sizes]
        + [
            {"window": windows[2], "event": "merge", "lineage": f"L{smallest[0]}",
             "detail": f"L{smallest[1]} joined"},
            {"window": windows[2], "event": "death", "lineage": f"L{smallest[1]}", "detail": ""},
        ]
    )  # fmt: skip
    lake.write_bytes("tracking/2026-01-track/lineage.csv", _csv(lineage))
    lake.write_bytes("tracking/2026-01-track/events.csv", _csv(events))
    return windows, lineage


def add_similar_history(lake: Lake, similar: pa.Table, windows: tuple[str, ...]) -> pa.Table:
    """A planted ``similar_history.parquet`` beside the lineages: in window ``w`` each
    channel's list is its brute-force similar channels with shared viewers shifted by a
    known amount ((len(other) * 7 + 3 * w) % 11), re-ranked, cut to 12; channel ``i`` in
    five misses window one."""
    rows = []
    owners = sorted(set(similar["channel"].to_pylist()))
    skip = set(owners[::5])
    by_owner: dict[str, list[dict]] = {}
    for r in similar.to_pylist():
        by_owner.setdefault(r["channel"], []).append(r)
    for w, window in enumerate(windows):
        for owner in owners:
            if w == 1 and owner in skip:
                continue
            shifted = [
                {**r, "shared": r["shared"] + (len(r["other"]) * 7 + 3 * w) % 11}
                for r in by_owner[owner]
            ]
            shifted.sort(key=lambda r: (-r["shared"], r["other"]))
            for rank, r in enumerate(shifted[:12], 1):
                rows.append({"window": window, **r, "rank": rank})
    history = pa.Table.from_pylist(rows)
    lake.write_bytes("tracking/2026-01-track/similar_history.parquet", _parquet(history))
    return history


def build_web_lake(root: Path, out: Path) -> WebLake:
    lake = analysed_lake(root, out)
    (plain,) = [r.run_id for r in list_runs(lake)]
    similar = add_rich_run(lake, plain)
    nodes = pq.read_table(lake.path(f"analysis/{plain}/nodes.parquet"))
    windows, lineage = add_tracking(lake, nodes)
    history = add_similar_history(lake, similar, windows)
    return WebLake(root, plain, RICH_RUN, windows, lineage, history)


def tracked_lake(root: Path, out: Path) -> Lake:
    """A synthetic lake followed by the real ``vieweratlas track`` (four 6-hour windows):
    the tracking outputs exactly as the product writes them."""
    lake_url = str(root)
    args = ["--channels", "120", "--viewers", "4000", "--communities", "4", "--seed", "5"]
    assert run_cli(["synth", "--lake", lake_url, *args]) == 0
    assert run_cli(["track", "--lake", lake_url, "--out", str(out), "--every", "6h"]) == 0
    assert run_cli(["analyze", "--lake", lake_url, "--out", str(out / "run"), "--seed", "1"]) == 0
    return Lake.open(lake_url)


def hostile_lake(root: Path, out: Path) -> tuple[Lake, str]:
    """A run whose every free-text field is markup (and one channel name too)."""
    from vieweratlas.render import write_atlas

    lake = Lake.open(str(root))
    names = ["alpha", "beta", "gamma", "delta", XSS_IMG, XSS_SCRIPT]
    n = len(names)
    nodes = pa.table(
        {
            "channel": names,
            "community": pa.array([0, 0, 0, 1, 1, 1], pa.int32()),
            "label": [XSS_IMG, XSS_IMG, XSS_IMG, XSS_SCRIPT, XSS_SCRIPT, XSS_SCRIPT],
            "viewers": pa.array([600, 500, 400, 300, 200, 100], pa.int64()),
            "game": [XSS_IMG, XSS_SCRIPT] * 3,
            "language": [XSS_SCRIPT] * n,
            "title": [XSS_SCRIPT, XSS_IMG] * 3,
            "x": pa.array(np.cos(np.arange(n)), pa.float64()),
            "y": pa.array(np.sin(np.arange(n)), pa.float64()),
        }
    )
    edges = pa.table(
        {
            "source": ["alpha", "alpha", "beta", "gamma", "delta", XSS_IMG],
            "target": ["beta", "gamma", "gamma", "delta", XSS_IMG, XSS_SCRIPT],
            "shared": pa.array([50, 40, 30, 10, 20, 15], pa.int64()),
            "weight": pa.array([0.5, 0.4, 0.3, 0.1, 0.2, 0.15]),
        }
    )
    communities = pa.table(
        {
            "community": pa.array([0, 1], pa.int64()),
            "label": [XSS_IMG, XSS_SCRIPT],
            "size": pa.array([3, 3], pa.int64()),
            "viewers": pa.array([1500, 600], pa.int64()),
            "top_channels": [f"alpha, {XSS_SCRIPT}", XSS_IMG],
            "games": [XSS_SCRIPT, XSS_IMG],
            "languages": [XSS_IMG, XSS_SCRIPT],
        }
    )
    summary = {
        "created_at": "2026-02-01T00:00:00+00:00",
        "counts": {"channels": n, "edges": 6, "communities": 2, "viewers": 2000},
        "window": {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-31T00:00:00+00:00"},
        "parameters": {"algorithm": XSS_IMG},
        "algorithm": XSS_SCRIPT,
        "modularity": 0.3,
    }
    write_atlas(out, nodes, edges, communities, {**summary, "run_id": "x"})
    run_id = "20260201T000000Z-0bad00"
    files = {
        "nodes.parquet": _parquet(nodes),
        "edges.parquet": _parquet(edges),
        "communities.csv": _csv(communities),
        "atlas.html": (out / "atlas.html").read_bytes(),
    }
    _write_run(lake, run_id, files, summary)
    tracking = pa.table(
        {
            "window": ["2026-01-05", "2026-01-05", "2026-01-12", "2026-01-12"],
            "platform": ["twitch"] * 4,
            "channel": ["alpha", "delta", "alpha", "delta"],
            "lineage": ["L1", XSS_IMG, "L1", XSS_IMG],
        }
    )
    events = pa.table(
        {"window": ["2026-01-12"], "event": ["grow"], "lineage": ["L1"], "detail": [XSS_SCRIPT]}
    )
    lake.write_bytes("tracking/t/lineage.csv", _csv(tracking))
    lake.write_bytes("tracking/t/events.csv", _csv(events))
    return lake, run_id


def make_app(lake: Path, **options: Any) -> Any:
    settings = load_settings(overrides={"lake": str(lake)})
    return create_app(settings, WebOptions(**options))


class LiveServer:
    """uvicorn serving ``app`` in a thread on 127.0.0.1:<free port>."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        ready = threading.Event()
        for _ in range(500):
            if self.server.started:
                ready.set()
                break
            ready.wait(0.02)  # polling the started flag uvicorn sets, not a timing guess
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
