"""Throughput of discover and VOD chat replay against the loopback Twitch of the tests.

    uv run python bench/helix_vod.py [--comments 200000] [--page 100] [--top 5000]

Prints one table: each stage with its items, seconds and items per second, next to the floor
(the same pages fetched with bare httpx + ``json.loads``, no validation, no lake), so the
cost of validation, bucketing and the lake write shows as a ratio. The server is the
single-threaded Python fake, so absolute numbers are a lower bound of the client's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "twitch"))

from helix_server import FakeClock, FakeTwitch

from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.sources.twitch.helix import discover_async
from vieweratlas.sources.twitch.vod import collect_vods_async


async def floor_gql(fake: FakeTwitch, video_id: str) -> int:
    """Bare paging: httpx + json, no models, no dedupe, no lake."""
    n = 0
    cursor: str | None = None
    async with httpx.AsyncClient() as client:
        while True:
            variables: dict[str, object] = {"videoID": video_id}
            variables.update({"cursor": cursor} if cursor else {"contentOffsetSeconds": 0})
            r = await client.post(f"{fake.url}/gql", json=[{"variables": variables, **OP}])
            comments = r.json()[0]["data"]["video"]["comments"]
            n += len(comments["edges"])
            if not comments["pageInfo"]["hasNextPage"]:
                return n
            cursor = comments["edges"][-1]["cursor"]


async def floor_streams(fake: FakeTwitch, token: str, top: int) -> int:
    seen: set[str] = set()
    cursor: str | None = None
    headers = {"Client-Id": "test-client-id", "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as client:
        while len(seen) < top:
            params = {"first": "100", **({"after": cursor} if cursor else {})}
            r = await client.get(f"{fake.url}/helix/streams", params=params, headers=headers)
            body = r.json()
            seen |= {s["user_id"] for s in body["data"]}
            cursor = body.get("pagination", {}).get("cursor")
            if not cursor:
                break
    return min(len(seen), top)


OP = {
    "operationName": "VideoCommentsByOffsetOrCursor",
    "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comments", type=int, default=200_000)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--top", type=int, default=5000)
    args = ap.parse_args()

    fake = FakeTwitch()
    fake.start()
    try:
        fake.gql_page, fake.gql_overlap = args.page, 0
        fake.add_streams(args.top + 200)
        fake.add_user("benchchan", "42")
        now = datetime.now(UTC).replace(microsecond=0)
        length = 8 * 3600
        fake.add_video("benchchan", "1", now - timedelta(days=1), views=10_000, length_s=length)
        step = length / args.comments
        fake.add_comments("1", [(i * step, f"user{i % 5000}") for i in range(args.comments)])
        settings = load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})
        rows: list[tuple[str, int, float, float]] = []
        with tempfile.TemporaryDirectory() as d:
            lake = Lake.open(d)
            t = time.perf_counter()
            result = asyncio.run(
                collect_vods_async(settings, lake, channels=["benchchan"], clock=FakeClock())
            )
            vod_s = time.perf_counter() - t
            t = time.perf_counter()
            floor_n = asyncio.run(floor_gql(fake, "1"))
            floor_s = time.perf_counter() - t
            rows.append(("vod replay (comments)", result.comments, vod_s, floor_s))
            assert floor_n == result.comments == args.comments

            t = time.perf_counter()
            disc = asyncio.run(discover_async(settings, lake, top=args.top, clock=FakeClock()))
            disc_s = time.perf_counter() - t
            token = sorted(fake.valid_tokens)[-1]
            t = time.perf_counter()
            asyncio.run(floor_streams(fake, token, args.top))
            floor_s = time.perf_counter() - t
            rows.append(("discover (channels)", len(disc.streams), disc_s, floor_s))
    finally:
        fake.stop()

    print(f"{'stage':<24}{'items':>10}{'seconds':>10}{'items/s':>12}{'floor s':>10}{'ratio':>8}")
    for name, n, s, f in rows:
        print(f"{name:<24}{n:>10,}{s:>10.2f}{n / s:>12,.0f}{f:>10.2f}{s / f:>8.2f}")


if __name__ == "__main__":
    main()
