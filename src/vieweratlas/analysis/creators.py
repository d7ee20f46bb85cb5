"""The creator join: one node per creator who streams on several platforms (pure).

A channel's identity is ``(platform, channel)`` and viewers are never merged across
platforms, so without help a Twitch channel and a Kick channel can never share an edge. The
creator map (``import creators``) says which channels are one creator; this step merges each
such group *present in the graph with at least two channels* into one node:

* ``platform`` becomes the group's platforms joined with ``+`` (``kick+twitch``), ``channel``
  the creator's name — so nodes and maps show every platform a node stands for;
* ``viewers`` and every edge's ``shared`` are sums over the members. That is exact because a
  creator has at most one channel per platform (the import enforces it) and viewer sets of
  different platforms are disjoint;
* weights are recomputed from the merged counts with the run's weight (with ``excess``,
  pairs no longer above chance are dropped, as the engines do);
* the incidence (where the engine kept it) gets the members' columns summed.

Communities can then span platforms through creators, and only through them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from vieweratlas.analysis.graph import ChannelGraph
from vieweratlas.analysis.overlap import normalise
from vieweratlas.config import Weight


def merge_creators(graph: ChannelGraph, creators: pa.Table, *, weight: Weight) -> ChannelGraph:
    """``graph`` with each multi-channel creator's nodes merged (see the module docstring)."""
    if creators.num_rows == 0 or graph.n == 0:
        return graph
    nodes = pa.table(
        {
            "platform": graph.platform.cast(pa.string()),
            "channel": graph.channel.cast(pa.string()),
            "_i": pa.array(np.arange(graph.n, dtype=np.int64)),
        }
    )
    cmap = creators.select(["creator", "platform", "channel"])
    joined = nodes.join(cmap, keys=["platform", "channel"], join_type="inner")
    if joined.num_rows == 0:
        return graph
    members = joined["_i"].to_numpy()
    creator_of = joined["creator"]
    counts = pc.value_counts(creator_of)
    multi = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    keep = pc.is_in(creator_of, value_set=multi).to_numpy(zero_copy_only=False)
    if not keep.any():
        return graph
    members, creator_of = members[keep], creator_of.filter(pa.array(keep))
    names, group_of_member = np.unique(np.asarray(creator_of.to_pylist(), dtype=object),
                                       return_inverse=True)  # fmt: skip
    # New index: unmerged nodes first (in their order), then one node per creator.
    merged = np.zeros(graph.n, dtype=bool)
    merged[members] = True
    single = np.flatnonzero(~merged)
    new_of = np.empty(graph.n, dtype=np.int64)
    new_of[single] = np.arange(len(single))
    new_of[members] = len(single) + group_of_member
    n_new = len(single) + len(names)

    platforms_of = graph.platform.cast(pa.string()).to_numpy(zero_copy_only=False)
    group_platforms = [
        "+".join(sorted(set(platforms_of[members[group_of_member == g]])))
        for g in range(len(names))
    ]
    platform = pa.concat_arrays(
        [graph.platform.cast(pa.string()).take(pa.array(single)),
         pa.array(group_platforms, pa.string())]
    )  # fmt: skip
    channel = pa.concat_arrays(
        [
            graph.channel.cast(pa.string()).take(pa.array(single)),
            pa.array(names.tolist(), pa.string()),
        ]
    )
    viewers = np.bincount(new_of, weights=graph.viewers, minlength=n_new).astype(np.int64)

    a, b = new_of[graph.src], new_of[graph.dst]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    inside = lo != hi  # a creator's own channels never share viewers (distinct platforms)
    pair = lo[inside] * n_new + hi[inside]
    uniq, inverse = np.unique(pair, return_inverse=True)
    shared = np.bincount(inverse, weights=graph.shared[inside], minlength=len(uniq))
    shared = shared.astype(np.int64)
    src = (uniq // n_new).astype(np.int32)
    dst = (uniq % n_new).astype(np.int32)
    w = normalise(shared, viewers[src], viewers[dst], weight, max(graph.stats.users_kept, 1))
    if weight == "excess":  # as the engines do: only overlap above chance is an edge
        pos = w > 0
        src, dst, shared, w = src[pos], dst[pos], shared[pos], w[pos]

    incidence = graph.incidence
    if incidence is not None:
        m = sp.csr_matrix((np.ones(graph.n), (np.arange(graph.n), new_of)), shape=(graph.n, n_new))
        incidence = (incidence @ m).tocsr()
    return replace(
        graph,
        platform=platform,
        channel=channel,
        viewers=viewers,
        src=src,
        dst=dst,
        shared=shared,
        weight=w,
        incidence=incidence,
        cooccurrence=None,  # merged nodes: the structure step multiplies the incidence
        stats=replace(graph.stats, channels_eligible=n_new),
    )
