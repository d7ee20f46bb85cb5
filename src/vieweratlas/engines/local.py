"""The local graph engine: presence → bots → overlap in this process (NumPy/SciPy).

Reads the window's presence dictionary-encoded (no string is hashed per row), builds the
viewer × channel incidence in linear time, removes bots, and computes shared viewers as the
sparse product ``Bᵀ·B`` on the eligible channels.
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.graph import ChannelGraph, GraphStats
from vieweratlas.analysis.overlap import edge_options, overlap, select_channels
from vieweratlas.config import AnalysisSettings, Settings
from vieweratlas.errors import AnalysisError
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TABLES
from vieweratlas.timings import Timings

log = logging.getLogger(__name__)


def read_presence(lake: Lake, cfg: AnalysisSettings) -> tuple[pa.Table, str]:
    """The window's presence as the local engine reads it (dictionary-encoded; the platform
    column only when the lake holds several), and the platform of rows without one. Shared
    with ``vieweratlas similar`` so both see the same viewers."""
    present = _platforms_in(lake, cfg.platforms)
    # One platform (the usual case): no per-row platform column to read and encode.
    columns = (
        ["ts", "channel", "user"] if len(present) <= 1 else ["ts", "platform", "channel", "user"]
    )
    presence = lake.read(
        "presence",
        columns=columns,
        since=cfg.since,
        until=cfg.until,
        dictionary=("channel", "user"),
        platforms=cfg.platforms,
    )
    if presence.num_rows == 0:
        raise AnalysisError(f"lake {lake.url}: no presence rows in the selected window")
    return presence, present[0] if present else "twitch"


class LocalEngine:
    """Builds the channel graph in memory; see the module docstring."""

    name = "local"

    def build(self, lake: Lake, settings: Settings, timings: Timings) -> ChannelGraph:
        cfg = settings.analysis
        stage = timings.stage
        with stage("read"):
            presence, default_platform = read_presence(lake, cfg)
            ts_min, ts_max = pc.min_max(presence["ts"]).values()
        with stage("aggregate"):
            inc = aggregate(presence, default_platform=default_platform)
            del presence
        with stage("bots"):
            bots = detect_bots(inc, cfg.bots)
            keep_users = ~bots.removed
            matrix = inc.matrix[keep_users]
        with stage("overlap"):
            # Every eligible channel is analysed; max_channels only limits the drawing.
            kept = select_channels(
                matrix, min_viewers=cfg.min_channel_viewers, max_channels=matrix.shape[1]
            )
            selected = matrix[:, kept]
            loyalty = cfg.loyalty_cap if cfg.viewer_weight == "loyalty" else None
            found = overlap(selected, **edge_options(cfg, len(kept)), loyalty_cap=loyalty)
        take = pa.array(kept, pa.int64())
        stats = GraphStats(
            presence_rows=inc.presence_rows,
            snapshots=inc.windows,
            users=len(inc.users),
            users_kept=int(keep_users.sum()),
            channels_seen=len(inc.channels),
            channels_eligible=len(kept),
            pairs_with_any_overlap=found.pairs_with_any_overlap,
            threshold_used=found.threshold,
            window_start=ts_min.as_py(),
            window_end=ts_max.as_py(),
        )
        return ChannelGraph(
            platform=inc.channel_platform.take(take),
            channel=inc.channels.take(take),
            viewers=found.viewers,
            src=found.src,
            dst=found.dst,
            shared=found.shared,
            weight=found.weight,
            stats=stats,
            bots=bots.table,
            bot_reasons=bots.reasons,
            bot_examples=bots.examples,
            incidence=selected,
            cooccurrence=found.cooccurrence,
        )


def _platforms_in(lake: Lake, wanted: tuple[str, ...]) -> list[str]:
    """Platforms with presence partitions in the lake (restricted to ``wanted`` if given)."""
    spec = TABLES["presence"]
    found = {
        part.removeprefix("platform=")
        for rel in lake.list_files(spec.path, suffix=".parquet")
        for part in rel.split("/")
        if part.startswith("platform=")
    }
    return sorted(found & set(wanted)) if wanted else sorted(found)
