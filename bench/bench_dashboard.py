"""The dashboard under load: a 100,000-channel run, 20 concurrent clients on loopback.

    uv run python bench/bench_dashboard.py [--channels 100000] [--clients 20]
                                           [--requests 1000] [--seed 0] [--keep DIR]
                                           [--client raw|httpx]

Writes a run straight into a temporary lake (nodes, edges, communities, similar tables made
with NumPy, not through ``analyze``, to keep it quick): heavy-tailed community sizes and
viewers, ~10 links and 20 similar channels per channel. Starts ``vieweratlas serve`` on
127.0.0.1 in its own process, times the first request (the run read and indexed once),
then sends a bounded number of requests per kind from ``--clients`` concurrent clients and
prints median / p95 latency, throughput and the server process's CPU time per request,
with the ratio against a static file served by the same server in the same run (the floor:
no data work at all). Every page kind asks for pages picked at random (with repeats, as
users do); one more row asks again for pages already asked (the page cache's answer).

The clients: ``raw`` (default) are asyncio streams speaking HTTP/1.1 with keep-alive, a few
microseconds of CPU per request, so that on a 2-core machine the load generator does not
take the CPU the server is measured on; ``httpx`` uses httpx's AsyncClient (a millisecond or
more of CPU per request in the client, which on 2 cores shows up as server latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vieweratlas.lake import Lake
from vieweratlas.runs import RunInfo

GAMES = ["Just Chatting", "League of Legends", "Valorant", "Minecraft", "GTA V", "Chess"]
LANGS = ["en", "de", "es", "fr", "pt", "ja"]
RUN_ID = "20260101T000000Z-be4c00"


def make_run(lake: Lake, n: int, seed: int) -> tuple[list[str], list[int]]:
    """Writes the run; returns the channel names and community ids."""
    rng = np.random.default_rng(seed)
    k = max(n // 100, 2)
    sizes = rng.dirichlet(np.full(k, 0.8))
    community = np.sort(rng.choice(k, size=n, p=sizes)).astype(np.int32)
    viewers = (rng.pareto(1.2, n) * 50 + 20).astype(np.int64)
    names = [f"ch{i:06d}" for i in range(n)]
    nodes = pa.table(
        {
            "platform": pa.array(["twitch"] * n),
            "channel": pa.array(names),
            "community": pa.array(community),
            "label": pa.array([f"Game {c} · EN" for c in community.tolist()]),
            "viewers": pa.array(viewers),
            "game": pa.array(rng.choice(GAMES, n)),
            "language": pa.array(rng.choice(LANGS, n)),
            "title": pa.array([f"stream {i}" for i in range(n)]),
            "x": pa.array(rng.normal(size=n)),
            "y": pa.array(rng.normal(size=n)),
            "confidence": pa.array(rng.uniform(0.3, 1.0, n)),
        }
    )
    # ~10 links per channel, 85 % inside the community (a random member of it).
    m = n * 5
    src = rng.integers(0, n, m)
    order = np.argsort(community, kind="stable")
    starts = np.searchsorted(community[order], np.arange(k))
    counts = np.bincount(community, minlength=k)
    inside = rng.random(m) < 0.85
    c = community[src]
    pick = starts[c] + (rng.random(m) * counts[c]).astype(np.int64)
    dst = np.where(inside, order[np.minimum(pick, n - 1)], rng.integers(0, n, m))
    keep = src != dst
    a, b = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep]
    pairs = np.unique(a.astype(np.int64) * n + b)
    a, b = pairs // n, pairs % n
    shared = np.maximum(1, (np.minimum(viewers[a], viewers[b]) * rng.uniform(0.01, 0.3, a.size)))
    shared = shared.astype(np.int64)
    names_arr = pa.array(names)
    edges = pa.table(
        {
            "source": names_arr.take(pa.array(a)),
            "target": names_arr.take(pa.array(b)),
            "shared": pa.array(shared),
            "weight": pa.array(shared / np.sqrt(viewers[a] * viewers[b])),
        }
    )
    # similar: the 20 biggest of each channel's links (both directions).
    own = np.concatenate([a, b])
    other = np.concatenate([b, a])
    sh = np.concatenate([shared, shared])
    o = np.lexsort((-sh, own))
    own, other, sh = own[o], other[o], sh[o]
    first = np.searchsorted(own, own, side="left")
    top = (np.arange(own.size) - first) < 20
    own, other, sh = own[top], other[top], sh[top]
    total = int(viewers.sum() // 3)
    similar = pa.table(
        {
            "platform": pa.array(["twitch"] * own.size),
            "channel": names_arr.take(pa.array(own)),
            "other_platform": pa.array(["twitch"] * own.size),
            "other": names_arr.take(pa.array(other)),
            "shared": pa.array(sh),
            "share_of_channel": pa.array(sh / viewers[own]),
            "share_of_other": pa.array(sh / viewers[other]),
            "lift": pa.array(sh * total / (viewers[own] * viewers[other])),
        }
    )
    ids = np.arange(k)
    communities = pa.table(
        {
            "community": pa.array(ids),
            "label": pa.array([f"Game {c} · EN" for c in ids.tolist()]),
            "size": pa.array(counts),
            "viewers": pa.array(
                np.bincount(community, weights=viewers, minlength=k).astype(np.int64)
            ),
            "top_channels": pa.array(["…"] * k),
            "games": pa.array(["Game (100%)"] * k),
            "languages": pa.array(["EN (100%)"] * k),
        }
    )
    for name, table in (
        ("nodes", nodes),
        ("edges", edges),
        ("communities", communities),
        ("similar", similar),
    ):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        lake.write_bytes(f"analysis/{RUN_ID}/{name}.parquet", bytes(sink.getvalue()))
    summary = {
        "run_id": RUN_ID,
        "created_at": "2026-01-08T00:00:00+00:00",
        "counts": {"channels": n, "edges": edges.num_rows, "communities": k, "viewers": total},
        "window": {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-07T23:00:00+00:00"},
        "parameters": {"algorithm": "leiden", "resolution": 1.0},
    }
    lake.write_bytes(f"analysis/{RUN_ID}/summary.json", json.dumps(summary).encode())
    files = tuple(f"{t}.parquet" for t in ("nodes", "edges", "communities", "similar"))
    lake.write_bytes(f"runs/{RUN_ID}.json", RunInfo.from_summary(summary, files).to_json())
    print(f"run: {n:,} channels, {edges.num_rows:,} links, {k:,} communities, "
          f"{similar.num_rows:,} similar rows")  # fmt: skip
    return names, [int(c) for c in np.flatnonzero(counts).tolist()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawClient:
    """One keep-alive HTTP/1.1 connection: GET, read the status, headers and whole body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load_raw(base: str, paths: list[str], clients: int) -> tuple[list[float], int]:
    """Like :func:`load`, with :class:`RawClient` connections (one per client)."""
    host, port = base.removeprefix("http://").split(":")
    queue = list(reversed(paths))
    times: list[float] = []
    retried = 0

    async def worker() -> None:
        nonlocal retried
        client = RawClient(host, int(port))
        try:
            while queue:
                path = queue.pop()
                t = time.perf_counter()
                try:
                    status = await client.get(path)
                except (OSError, asyncio.IncompleteReadError):
                    retried += 1
                    await client.close()
                    status = await client.get(path)
                times.append(time.perf_counter() - t)
                if status != 200:
                    raise RuntimeError(f"{path}: {status}")
        finally:
            await client.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return times, retried


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base: str, paths: list[str], clients: int) -> tuple[list[float], int]:
    """Each of ``clients`` workers takes the next path until none is left; seconds each,
    and how many requests were retried (a keep-alive connection the server had closed
    while this client process was starved of CPU; the retry is timed from the start)."""
    queue = list(reversed(paths))
    times: list[float] = []
    retried = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal retried
            while queue:
                path = queue.pop()
                t = time.perf_counter()
                try:
                    r = await client.get(path)
                except httpx.TransportError:
                    retried += 1
                    r = await client.get(path)
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code}")

        await asyncio.gather(*(worker() for _ in range(clients)))
    return times, retried


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=1000, help="per kind of page")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="keep the lake here")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    root = args.keep or tmp / "lake"
    t = time.perf_counter()
    names, communities = make_run(Lake.open(str(root)), args.channels, args.seed)
    print(f"written in {time.perf_counter() - t:.1f}s")
    port = free_port()
    env = {**os.environ, "VIEWERATLAS_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "vieweratlas", "serve", "--lake", str(root), "--port", str(port)],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # waiting for the server process to listen
        t = time.perf_counter()
        httpx.get(f"{base}/channels/twitch/{names[0]}", timeout=300).raise_for_status()
        cold = time.perf_counter() - t
        rng = np.random.default_rng(args.seed + 1)
        pick_channel = rng.integers(0, len(names), (2, args.requests))
        pick_community = rng.integers(0, len(communities), (2, args.requests))
        kinds = {
            "static file (floor)": ["/static/dashboard.css"] * args.requests,
            "channel page": [f"/channels/twitch/{names[i]}" for i in pick_channel[0]],
            "channel JSON": [f"/api/channels/twitch/{names[i]}" for i in pick_channel[1]],
            "community page": [f"/communities/{communities[i]}" for i in pick_community[0]],
            "community JSON": [f"/api/communities/{communities[i]}" for i in pick_community[1]],
        }
        # the same channel and community pages again: answered from the page cache
        kinds["channel + community page, again"] = (
            kinds["channel page"][: args.requests // 2]
            + kinds["community page"][: args.requests - args.requests // 2]
        )
        run_load = load_raw if args.client == "raw" else load
        rows = []
        for kind, paths in kinds.items():
            t = time.perf_counter()
            cpu = cpu_seconds(server.pid)
            seconds, retried = asyncio.run(run_load(base, paths, args.clients))
            cpu = cpu_seconds(server.pid) - cpu
            times = np.array(seconds) * 1000
            if retried:
                print(f"{kind}: {retried} request(s) retried on a closed connection")
            wall = time.perf_counter() - t
            rows.append(
                (kind, len(paths), np.median(times), np.percentile(times, 95), len(paths) / wall,
                 cpu * 1000 / len(paths))
            )  # fmt: skip
        floor_med, floor_p95 = rows[0][2], rows[0][3]
        print(f"\nfirst request (run read and indexed once): {cold:.2f}s")
        print(f"{args.clients} concurrent clients ({args.client}), {args.requests} requests per "
              "kind, loopback\n")  # fmt: skip
        print("| request | n | median ms | p95 ms | req/s | server CPU ms/req "
              "| median / floor | p95 / floor |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for kind, count, med, p95, rps, cpu_ms in rows:
            print(f"| {kind} | {count} | {med:.1f} | {p95:.1f} | {rps:.0f} | {cpu_ms:.2f} | "
                  f"{med / floor_med:.1f}x | {p95 / floor_p95:.1f}x |")  # fmt: skip
        print(f"\nload average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
