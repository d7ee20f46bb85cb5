"""Small lake data sets and S3 helpers shared by the lake tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.lake.schema import TS

T0 = datetime(2026, 11, 1, 23, 50, tzinfo=UTC)


def presence(rows: list[tuple[datetime, str, str]], *, source: str = "irc") -> pa.Table:
    """Presence rows (ts, channel, user) with the other columns filled in."""
    return pa.table(
        {
            "ts": pa.array([r[0] for r in rows], TS),
            "channel": [r[1] for r in rows],
            "user": [r[2] for r in rows],
            "user_id": pa.array([None] * len(rows), pa.string()),
            "source": [source] * len(rows),
            "messages": pa.array([1] * len(rows), pa.int32()),
            "platform": ["twitch"] * len(rows),
        }
    )


def channels(rows: list[tuple[datetime, str, str, str]]) -> pa.Table:
    """Channel metadata rows (ts, channel, game, language)."""
    n = len(rows)
    return pa.table(
        {
            "ts": pa.array([r[0] for r in rows], TS),
            "channel": [r[1] for r in rows],
            "channel_id": pa.array([None] * n, pa.string()),
            "display_name": [r[1].title() for r in rows],
            "game": [r[2] for r in rows],
            "language": [r[3] for r in rows],
            "viewers": pa.array([100] * n, pa.int64()),
            "title": ["<b>hi</b>"] * n,
            "platform": ["twitch"] * n,
        }
    )


# Two windows on 1 Nov, one on 2 Nov (UTC), across three channels.
ROWS = [
    (T0, "alpha", "ann"),
    (T0, "alpha", "bob"),
    (T0, "beta", "bob"),
    (T0 + timedelta(minutes=5), "beta", "cat"),
    (T0 + timedelta(minutes=10), "gamma", "ann"),  # 2026-11-02 00:00
    (T0 + timedelta(minutes=10), "gamma", "dan"),
]


def bucket_keys(client: object, bucket: str) -> dict[str, int]:
    """Every object in a bucket: key → size."""
    out: dict[str, int] = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)  # type: ignore[attr-defined]
    for page in pages:
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out
