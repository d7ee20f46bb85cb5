from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.lake.schema import TS

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def presence(rows: list[tuple[int, str, str]]) -> pa.Table:
    """(snapshot index, channel, user) → a presence table with ts/channel/user."""
    return pa.table(
        {
            "ts": pa.array([T0 + timedelta(minutes=5 * w) for w, _, _ in rows], TS),
            "channel": [c for _, c, _ in rows],
            "user": [u for _, _, u in rows],
        }
    )
