"""Chat comments → presence rows in fixed-length buckets from a start time.

Shared by the VOD replay collector and the chat-file importers: a comment at offset ``o``
seconds from ``start`` lands in the bucket starting at ``start + floor(o / bucket_len) *
bucket_len``; one presence row per (bucket, user) with the number of messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.lake.schema import PRESENCE, TS
from vieweratlas.platforms import PLATFORMS


def bucket_comments(
    *,
    channel: str,
    start: datetime,
    offsets_s: np.ndarray | pa.Array,
    users: pa.Array,
    bucket_len: timedelta,
    source: str,
    user_ids: pa.Array | None = None,
    platform: str = "twitch",
) -> pa.Table:
    """Presence rows (lake schema plus ``platform``) for one channel's comments.

    ``offsets_s`` are seconds from ``start`` (negative offsets are clamped to bucket 0);
    ``users`` are logins (lower-cased here where the platform ignores case);
    ``user_ids`` optional, same length.
    """
    folds = PLATFORMS[platform].case_insensitive if platform in PLATFORMS else True
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    offsets = np.asarray(offsets_s, dtype=np.float64)
    if len(offsets) != len(users):
        raise ValueError("offsets and users differ in length")
    if user_ids is None:
        user_ids = pa.nulls(len(users), pa.string())
    length_us = int(bucket_len.total_seconds() * 1_000_000)
    if length_us <= 0:
        raise ValueError("bucket_len must be positive")
    offsets_us = np.maximum(np.floor(offsets * 1_000_000).astype(np.int64), 0)
    start_us = int(start.timestamp() * 1_000_000)
    bucket_us = start_us + (offsets_us // length_us) * length_us
    table = pa.table(
        {
            "ts": pa.array(bucket_us, TS),
            "user": pc.utf8_lower(pa.array(users, pa.string()))
            if folds
            else pa.array(users, pa.string()),
            "user_id": pa.array(user_ids, pa.string()),
        }
    )
    grouped = table.group_by(["ts", "user"]).aggregate([("user_id", "max"), ("user", "count")])
    n = grouped.num_rows
    out = pa.table(
        {
            "ts": grouped["ts"],
            "channel": pa.array([channel.lower() if folds else channel] * n, pa.string()),
            "user": grouped["user"],
            "user_id": grouped["user_id_max"],
            "source": pa.array([source] * n, pa.string()),
            "messages": pc.cast(grouped["user_count"], pa.int32()),
            "platform": pa.array([platform] * n, pa.string()),
        }
    )
    return out.select([*PRESENCE.schema.names, "platform"])
