"""Similar channels from the lake: ``vieweratlas similar`` and a run's ``similar.parquet``.

Reads presence exactly as the local graph engine does (dictionary-encoded, the same window
and platforms) and removes bots with the same rules, so the numbers agree with ``analyze``;
then computes one column of ``Bᵀ·B`` per channel asked about
(:mod:`vieweratlas.analysis.similar`). The other channels' communities come from the
latest run in the lake, when there is one.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.aggregate import Incidence, aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.analysis.similar import (
    Audience,
    Comparison,
    audience_of,
    compare,
    similar_to,
    top_from_edges,
    top_similar,
)
from vieweratlas.config import Settings
from vieweratlas.errors import AnalysisError, LakeError, shorten
from vieweratlas.lake import Lake
from vieweratlas.platforms import PLATFORMS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimilarResult:
    """What ``similar`` found: one table per channel asked, and their comparison if several."""

    channels: list[tuple[str, str]]  # (platform, channel) as resolved
    viewers: list[int]  # unique viewers of each, after bots
    tables: list[pa.Table]  # SIMILAR_SCHEMA + community, label
    comparison: Comparison | None
    users: int  # viewers in the window after bots (N of the lift)
    run_id: str | None  # the run the communities come from
    approximate: int | None = None  # sketch size k when estimated (``similar --approx``)


def read_incidence(lake: Lake, settings: Settings) -> tuple[Incidence, np.ndarray]:
    """The configured window's incidence and the users the bot rules remove (a mask), read
    and filtered exactly as the local graph engine does."""
    from vieweratlas.engines.local import read_presence

    cfg = settings.analysis
    presence, default_platform = read_presence(lake, cfg)
    columns = {name: presence.column(name) for name in presence.column_names}
    del presence  # aggregate frees each column once it is encoded
    inc = aggregate(columns, default_platform=default_platform)
    return inc, detect_bots(inc, cfg.bots).removed


def load_audience(lake: Lake, settings: Settings) -> Audience:
    """The configured window's audience with bots removed (:func:`read_incidence`)."""
    return audience_of(*read_incidence(lake, settings))


def find_channel(audience: Audience, name: str, platform: str | None = None) -> int:
    """Column of the channel ``name`` (on ``platform``, or the only platform that has it)."""
    wanted = [platform] if platform else sorted(PLATFORMS)
    if platform and platform not in PLATFORMS:
        raise AnalysisError(f"platform {platform!r}: unknown (known: {', '.join(PLATFORMS)})")
    plat = audience.platform.cast(pa.string())
    chan = audience.channel.cast(pa.string())
    hits: list[tuple[str, int]] = []
    for p in wanted:
        login = PLATFORMS[p].normalize(name)
        if login is None:
            continue
        mask = pc.and_(pc.equal(plat, p), pc.equal(chan, login))
        hits += [(p, int(i)) for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False))]
    if len(hits) == 1:
        return hits[0][1]
    shown = shorten(name, 60)
    if hits:
        where = ", ".join(p for p, _ in hits)
        raise AnalysisError(
            f"channel {shown!r} is on several platforms ({where}): pick one with --platform"
        )
    close = difflib.get_close_matches(name.strip(), set(chan.to_pylist()), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    scope = f" on {platform}" if platform else ""
    raise AnalysisError(f"channel {shown!r}: no viewers{scope} in the selected window{hint}")


def run_communities(lake: Lake) -> tuple[pa.Table | None, str | None]:
    """``platform, channel, community, label`` of the latest run (None when there is none)."""
    from vieweratlas.runs import open_run

    try:
        run = open_run(lake)
        nodes = run.table("nodes")
    except LakeError:
        return None, None
    if "platform" not in nodes.column_names:  # runs made before channels had platforms
        nodes = nodes.append_column("platform", pa.repeat(pa.scalar("twitch"), nodes.num_rows))
    cols = {
        "platform": nodes["platform"].cast(pa.string()),
        "channel": nodes["channel"].cast(pa.string()),
        "community": nodes["community"].cast(pa.int64()),
        "label": nodes["label"].cast(pa.string()),
    }
    return pa.table(cols), run.run_id


def with_communities(table: pa.Table, communities: pa.Table | None) -> pa.Table:
    """``table`` (SIMILAR_SCHEMA) plus the other channel's ``community`` and ``label``."""
    if communities is None:
        return table.append_column("community", pa.nulls(table.num_rows, pa.int64())).append_column(
            "label", pa.nulls(table.num_rows, pa.string())
        )
    keyed = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    right = communities.rename_columns(["other_platform", "other", "community", "label"])
    joined = keyed.join(right, keys=["other_platform", "other"], join_type="left outer")
    return joined.sort_by("_row").drop_columns(["_row"])


def similar_channels(
    lake: Lake,
    settings: Settings,
    names: list[str],
    *,
    platform: str | None = None,
    top: int | None = 20,
    sort: str = "shared",
) -> SimilarResult:
    """The channels sharing the most viewers with each of ``names`` (and, for several, how
    their audiences overlap)."""
    if not names:
        raise AnalysisError("similar: name at least one channel")
    audience = load_audience(lake, settings)
    columns = [find_channel(audience, name, platform) for name in names]
    communities, run_id = run_communities(lake)
    tables = [
        with_communities(similar_to(audience, c, top=top, sort=sort), communities) for c in columns
    ]
    ident = [(audience.platform[c].as_py(), audience.channel[c].as_py()) for c in columns]
    viewers = audience.viewers()
    comparison = None
    if len(columns) > 1:
        several = len({p for p, _ in ident}) > 1
        labels = [f"{p}/{c}" if several else c for p, c in ident]
        comparison = compare(audience, columns, labels)
    return SimilarResult(
        channels=ident,
        viewers=[int(viewers[c]) for c in columns],
        tables=tables,
        comparison=comparison,
        users=audience.users,
        run_id=run_id,
    )


def run_similar(graph: ChannelGraph, top: int) -> pa.Table:
    """A run's ``similar.parquet``: the ``top`` channels sharing the most viewers with every
    channel of the graph (the eligible channels).

    From the graph's incidence when the engine kept it (the exact top of ``Bᵀ·B``, from the
    pair counts the engine made when it kept those too); an
    engine without it (Spark) gives the top among the graph's edges, i.e. pairs that passed
    the edge threshold.
    """
    if graph.incidence is not None:
        audience = Audience(
            matrix=graph.incidence,
            platform=graph.platform,
            channel=graph.channel,
            users=graph.stats.users_kept,
        )
        return top_similar(audience, top=top, pairs=graph.shared_pairs)
    return top_from_edges(
        graph.src, graph.dst, graph.shared, graph.viewers, graph.platform, graph.channel,
        users=graph.stats.users_kept, top=top,
    )  # fmt: skip
