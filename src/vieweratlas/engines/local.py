"""The local graph engine: presence → bots → overlap in this process (NumPy/SciPy).

Reads the window's presence dictionary-encoded (no string is hashed per row), builds the
viewer × channel incidence in linear time, removes bots, and computes shared viewers as the
sparse product ``Bᵀ·B`` on the eligible channels, a block of channels at a time
(:func:`~vieweratlas.analysis.similar.shared_pairs`); the pair counts travel with the graph
so the run's similar channels need no second product.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.graph import ChannelGraph, GraphStats
from vieweratlas.analysis.overlap import edge_options, overlap, select_channels, select_edges
from vieweratlas.analysis.similar import shared_pairs
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
            # Handed over column by column: aggregate frees each once it is encoded.
            columns = {name: presence.column(name) for name in presence.column_names}
            del presence
            inc = aggregate(columns, default_platform=default_platform)
            # Arrow's allocator keeps freed pages for reuse; nothing Arrow-sized follows.
            pa.default_memory_pool().release_unused()
        with stage("bots"):
            bots = detect_bots(inc, cfg.bots)
            keep_users = ~bots.removed
            matrix = inc.matrix[keep_users]
            # Keep what the graph needs, not the per-row codes (8 bytes a presence row).
            seen = (inc.presence_rows, inc.windows, len(inc.users), len(inc.channels))
            channels, channel_platform = inc.channels, inc.channel_platform
            del inc
        with stage("overlap"):
            # Every eligible channel is analysed; max_channels only limits the drawing.
            kept = select_channels(
                matrix, min_viewers=cfg.min_channel_viewers, max_channels=matrix.shape[1]
            )
            selected = matrix[:, kept]
            del matrix
            pairs = None
            if cfg.viewer_weight == "loyalty":  # weights from the snapshot counts
                found = overlap(
                    selected, **edge_options(cfg, len(kept)), loyalty_cap=cfg.loyalty_cap
                )
            else:  # the counts, kept for the run's similar channels
                pairs = shared_pairs(selected)
                present = selected.astype(bool)
                present.eliminate_zeros()
                found = select_edges(
                    pairs.a,
                    pairs.b,
                    pairs.shared,
                    np.bincount(present.indices, minlength=len(kept)).astype(np.int64),
                    users=int((np.diff(present.indptr) > 0).sum()),
                    pairs=len(pairs),
                    **edge_options(cfg, len(kept)),
                )
                del present
        take = pa.array(kept, pa.int64())
        stats = GraphStats(
            presence_rows=seen[0],
            snapshots=seen[1],
            users=seen[2],
            users_kept=int(keep_users.sum()),
            channels_seen=seen[3],
            channels_eligible=len(kept),
            pairs_with_any_overlap=found.pairs_with_any_overlap,
            threshold_used=found.threshold,
            window_start=ts_min.as_py(),
            window_end=ts_max.as_py(),
        )
        return ChannelGraph(
            platform=channel_platform.take(take),
            channel=channels.take(take),
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
            shared_pairs=pairs,
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
