"""Bot removal: a shipped blocklist plus behavioural heuristics.

A human can watch only so many streams, and only a few at once. So besides the known
accounts, a user is treated as a bot when they were seen in an implausible share of all
channels, or in too many channels within a single snapshot window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.aggregate import Incidence
from vieweratlas.config import BotSettings


@cache
def shipped_blocklist() -> frozenset[str]:
    text = resources.files("vieweratlas.analysis").joinpath("data/bots.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@dataclass(frozen=True)
class BotReport:
    """Which users were removed, and why (each user counted under its first reason)."""

    removed: np.ndarray  # bool per user code
    table: pa.Table  # user, platform, reason, channels: every account removed, busiest first
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.removed.sum())

    def as_dict(self) -> dict[str, object]:
        return {"removed": self.count, "by_reason": self.reasons, "examples": self.examples}


def detect_bots(inc: Incidence, settings: BotSettings, *, max_examples: int = 20) -> BotReport:
    n_users, n_channels = inc.matrix.shape
    channels_per_user = np.diff(inc.matrix.indptr)  # distinct channels per user (CSR rows)

    names = set(settings.extra)
    if settings.blocklist:
        names |= shipped_blocklist()
    listed = pc.is_in(inc.users, value_set=pa.array(sorted(names), pa.string()))
    listed_mask = listed.to_numpy(zero_copy_only=False)

    share_limit = max(settings.min_channels, settings.max_channel_share * n_channels)
    share_mask = channels_per_user > share_limit

    # Concurrency only matters for users in more channels than the limit: look at those rows.
    # With a single snapshot, "at once" cannot be told from "in total": skip the rule.
    concurrent_mask = np.zeros(n_users, dtype=bool)
    candidates = channels_per_user > settings.max_concurrent
    if inc.windows > 1 and candidates.any():
        rows = candidates[inc.row_user]
        key = inc.row_user[rows].astype(np.int64) * inc.windows + inc.row_window[rows]
        uniq, counts = np.unique(key, return_counts=True)
        busy = uniq[counts > settings.max_concurrent] // inc.windows
        concurrent_mask[busy] = True

    removed = np.zeros(n_users, dtype=bool)
    reasons: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    parts: list[pa.Table] = []
    for reason, mask in (
        ("blocklist", listed_mask),
        ("channel_share", share_mask),
        ("concurrency", concurrent_mask),
    ):
        new = mask & ~removed
        reasons[reason] = int(new.sum())
        idx = np.flatnonzero(new)
        top = idx[np.argsort(-channels_per_user[idx], kind="stable")[:max_examples]]
        examples[reason] = inc.users.take(pa.array(top)).to_pylist()
        parts.append(
            pa.table(
                {
                    "user": inc.users.take(pa.array(idx, pa.int64())),
                    "platform": inc.user_platform.take(pa.array(idx, pa.int64())),
                    "reason": pa.array([reason] * len(idx), pa.string()),
                    "channels": pa.array(channels_per_user[idx], pa.int64()),
                }
            )
        )
        removed |= mask
    table = pa.concat_tables(parts).sort_by([("channels", "descending"), ("user", "ascending")])
    return BotReport(removed=removed, table=table, reasons=reasons, examples=examples)
