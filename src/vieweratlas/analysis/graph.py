"""The channel graph: the seam between building (an engine) and finding communities.

An engine (:mod:`vieweratlas.engines`) turns the lake's presence into a :class:`ChannelGraph`;
everything after it (communities, labels, layout, outputs) works on this small object alone,
so a second engine (Spark) plugs in without touching the rest. Node ``i`` is the channel
``(platform[i], channel[i])``; viewers are never merged across platforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pyarrow as pa
import scipy.sparse as sp


@dataclass(frozen=True)
class GraphStats:
    """What the build saw and kept (for the summary and the CLI)."""

    presence_rows: int
    snapshots: int
    users: int  # distinct (platform, user) in the window
    users_kept: int  # after bot removal
    channels_seen: int
    channels_eligible: int  # with at least min_channel_viewers viewers after bots
    pairs_with_any_overlap: int  # channel pairs sharing at least one viewer
    threshold_used: int  # shared viewers an edge needed in the end
    window_start: datetime  # first snapshot
    window_end: datetime  # last snapshot


@dataclass(frozen=True)
class ChannelGraph:
    """Channels (nodes) and their audience overlap (undirected edges ``src < dst``).

    ``viewers`` counts unique viewers per channel after bot removal; ``shared`` the unique
    viewers two channels have in common; ``weight`` the normalised weight communities are
    found on. ``incidence`` (users × channels, snapshot counts, bots removed) is kept by
    engines that have it in memory (the local one) for the stages that can use it, and with
    it ``cooccurrence``: the shared viewers of *every* pair (the upper triangle of ``Bᵀ·B``,
    before edges are chosen), which the structure step reuses to compute where each
    channel's viewers go without multiplying the incidence again.
    """

    platform: pa.Array  # string, per node
    channel: pa.Array  # string, per node
    viewers: np.ndarray  # int64, per node
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    shared: np.ndarray  # int64
    weight: np.ndarray  # float64
    stats: GraphStats
    bots: pa.Table = field(repr=False)  # user, platform, reason, channels
    bot_reasons: dict[str, int] = field(default_factory=dict)
    bot_examples: dict[str, list[str]] = field(default_factory=dict)
    incidence: sp.csr_matrix | None = field(default=None, repr=False)
    cooccurrence: sp.csr_matrix | None = field(default=None, repr=False)  # upper triangle

    @property
    def n(self) -> int:
        return len(self.viewers)

    @property
    def platforms(self) -> list[str]:
        return sorted(set(self.platform.to_pylist()))

    def degree(self) -> np.ndarray:
        return np.bincount(np.concatenate([self.src, self.dst]), minlength=self.n)

    def strength(self) -> np.ndarray:
        w = self.weight
        return np.bincount(self.src, weights=w, minlength=self.n) + np.bincount(
            self.dst, weights=w, minlength=self.n
        )

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric weighted adjacency (n × n)."""
        w = sp.coo_matrix((self.weight, (self.src, self.dst)), shape=(self.n, self.n))
        return (w + w.T).tocsr()

    def subgraph(self, keep: np.ndarray) -> ChannelGraph:
        """The graph restricted to nodes ``keep`` (sorted indices), re-indexed 0..len-1."""
        if len(keep) == self.n:  # every node (sorted, so in order): nothing to slice
            return self
        remap = np.full(self.n, -1, dtype=np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        src, dst = remap[self.src], remap[self.dst]
        inside = (src >= 0) & (dst >= 0)
        take = pa.array(keep, pa.int64())
        return replace(
            self,
            platform=self.platform.take(take),
            channel=self.channel.take(take),
            viewers=self.viewers[keep],
            src=src[inside],
            dst=dst[inside],
            shared=self.shared[inside],
            weight=self.weight[inside],
            incidence=None if self.incidence is None else self.incidence[:, keep],
            cooccurrence=None,  # only the structure step reads it, on the whole graph
        )
