"""One run's tables, read once and indexed for the dashboard's lookups.

:class:`RunData` holds a run's nodes, edges, communities and, when the run has them,
``memberships`` and ``similar``, with the indexes every page needs built once with
array operations: channel → row, community → member rows, channel → its edges (CSR) or its
rows of ``similar``, community × community shared audience. A page then costs a slice and a
sort of a few hundred numbers, whatever the size of the run.

Optional columns (``platform``, ``subcommunity``, ``confidence``, ``bridge``; communities'
``parent``, ``stability``) and files are used when present and left out when not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from vieweratlas.runs import Run

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PLATFORM", "RunData", "SimilarRow"]

DEFAULT_PLATFORM = "twitch"  # runs made before nodes had a platform column were Twitch-only
UNCLUSTERED = -1
NODE_EXTRAS = ("subcommunity", "confidence", "bridge", "degree", "strength", "attached")
COMMUNITY_EXTRAS = ("parent", "stability")
SORTABLE = ("channel", "game", "language", "confidence", "degree")  # besides viewers


@dataclass(frozen=True)
class SimilarRow:
    """One channel that shares audience with another (see ``similar.parquet``)."""

    platform: str
    channel: str
    shared: int
    share_of_channel: float
    share_of_other: float
    lift: float | None

    def as_dict(self) -> dict[str, Any]:
        """As JSON-ready values (``dataclasses.asdict`` deep-copies: slow on every page)."""
        return {
            "platform": self.platform,
            "channel": self.channel,
            "shared": self.shared,
            "share_of_channel": self.share_of_channel,
            "share_of_other": self.share_of_other,
            "lift": self.lift,
        }


def _strings(table: pa.Table, name: str, default: str | None = None) -> list[str | None]:
    if name not in table.column_names:
        return [default] * table.num_rows
    values: list[str | None] = table.column(name).cast(pa.string()).to_pylist()
    return values


def _keys(platform: pa.Array | pa.ChunkedArray, channel: pa.Array | pa.ChunkedArray) -> Any:
    """``platform NUL channel`` per row: one string key for a channel identity."""
    return pc.binary_join_element_wise(
        pc.cast(platform, pa.string()), pc.cast(channel, pa.string()), "\x00"
    )


def _platform_column(table: pa.Table, name: str, rows: int) -> pa.ChunkedArray | pa.Array:
    if name in table.column_names:
        return pc.fill_null(table.column(name).cast(pa.string()), DEFAULT_PLATFORM)
    return pa.array([DEFAULT_PLATFORM] * rows, pa.string())


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class RunData:
    """A run's tables plus the indexes the pages use. Immutable after construction."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.run_id = run.run_id
        self.info = run.info
        self.files = tuple(sorted(run.files))
        self.summary: dict[str, Any] = run.summary if run.has("summary.json") else {}
        counts = self.summary.get("counts") or {}
        self.total_viewers = int(counts.get("viewers") or 0)
        nodes = run.table("nodes")
        self.nodes = nodes
        n = nodes.num_rows
        self.platform = _platform_column(nodes, "platform", n)
        self.platforms = sorted({str(p) for p in pc.unique(self.platform).to_pylist()})
        self.channel: list[str] = [str(c) for c in nodes.column("channel").to_pylist()]
        self.platform_list: list[str] = [str(p) for p in self.platform.to_pylist()]
        self.keys = _keys(self.platform, nodes.column("channel"))
        self.index: dict[tuple[str, str], int] = {
            (p, c): i for i, (p, c) in enumerate(zip(self.platform_list, self.channel, strict=True))
        }
        self.community = nodes.column("community").to_numpy(zero_copy_only=False).astype(np.int64)
        self.viewers = nodes.column("viewers").to_numpy(zero_copy_only=False).astype(np.int64)
        self.label = _strings(nodes, "label")
        self.game = _strings(nodes, "game")
        self.language = _strings(nodes, "language")
        self.title = _strings(nodes, "title")
        self.extras = {
            name: nodes.column(name).to_pylist()
            for name in NODE_EXTRAS
            if name in nodes.column_names
        }
        self._members = self._group(self.community)
        self.communities = self._communities(run)
        self._edges(run)
        self._similar(run)
        self._memberships(run)
        self._orders()
        log.info("run %s: %d channels indexed", self.run_id, n)

    # ------------------------------------------------------------------ building

    def _group(self, values: np.ndarray) -> dict[int, np.ndarray]:
        """value → rows having it, each group ordered by viewers (most first)."""
        order = np.lexsort((-self.viewers, values))
        sorted_values = values[order]
        bounds = np.flatnonzero(np.diff(sorted_values)) + 1
        groups = np.split(order, bounds)
        return {int(values[g[0]]): g for g in groups if g.size}

    def _communities(self, run: Run) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        if run.has("communities.csv") or run.has("communities.parquet"):
            for row in run.table("communities").to_pylist():
                out[int(row["community"])] = row
        for cid, rows in self._members.items():  # communities the table does not describe
            out.setdefault(cid, {"community": cid, "label": None, "size": int(rows.size)})
        return out

    def _node_rows(self, platform: Any, channel: Any) -> np.ndarray:
        """Row of each ``(platform, channel)`` in nodes, -1 where it is not a node."""
        found = pc.index_in(_keys(platform, channel), value_set=self.keys)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _edges(self, run: Run) -> None:
        edges = run.table("edges")
        m = edges.num_rows
        src = self._node_rows(_platform_column(edges, "source_platform", m), edges["source"])
        dst = self._node_rows(_platform_column(edges, "target_platform", m), edges["target"])
        shared = edges.column("shared").to_numpy(zero_copy_only=False).astype(np.int64)
        ok = (src >= 0) & (dst >= 0)
        src, dst, shared = src[ok], dst[ok], shared[ok]
        self.edge_count = int(src.size)
        # CSR over both directions: row i's neighbours are nbr[ptr[i]:ptr[i+1]].
        both_src = np.concatenate([src, dst])
        both_dst = np.concatenate([dst, src])
        order = np.argsort(both_src, kind="stable")
        self._nbr = both_dst[order]
        self._nbr_shared = np.concatenate([shared, shared])[order]
        self._ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(both_src, minlength=len(self.channel)))]
        )
        # Shared audience between communities (links inside one community on the diagonal).
        ids = np.array(sorted(self._members), dtype=np.int64)
        self._cids = ids
        k = ids.size
        a = np.searchsorted(ids, self.community[src])
        b = np.searchsorted(ids, self.community[dst])
        # Symmetric and sparse: a run with many small communities stays small here.
        cross = a != b
        rows = np.concatenate([a[cross], b[cross]])
        cols = np.concatenate([b[cross], a[cross]])
        weights = np.concatenate([shared[cross], shared[cross]]).astype(np.float64)
        self._between_shared = sp.coo_matrix((weights, (rows, cols)), shape=(k, k)).tocsr()
        self._between_links = sp.coo_matrix(
            (np.ones(rows.size), (rows, cols)), shape=(k, k)
        ).tocsr()

    def _similar(self, run: Run) -> None:
        self.has_similar_file = run.has("similar.parquet")
        self._sim: pa.Table | None = None
        if not self.has_similar_file:
            return
        sim = run.table("similar")
        r = sim.num_rows
        owner = self._node_rows(_platform_column(sim, "platform", r), sim["channel"])
        other_platform = "other_platform" if "other_platform" in sim.column_names else "platform"
        other = self._node_rows(_platform_column(sim, other_platform, r), sim["other"])
        shared = sim.column("shared").to_numpy(zero_copy_only=False).astype(np.int64)
        order = np.lexsort((-shared, owner))
        owner = owner[order]
        self._sim = sim.take(pa.array(order))
        self._sim_other = other[order]
        self._sim_owner = owner
        self._sim_other_platform = other_platform

    def _memberships(self, run: Run) -> None:
        self._memb: dict[int, list[tuple[int, float]]] = {}
        if not run.has("memberships.csv") and not run.has("memberships.parquet"):
            self.has_memberships = False
            return
        self.has_memberships = True
        table = run.table("memberships")
        rows = self._node_rows(
            _platform_column(table, "platform", table.num_rows), table["channel"]
        )
        comm = table.column("community").to_numpy(zero_copy_only=False).astype(np.int64)
        share = table.column("share").to_numpy(zero_copy_only=False).astype(np.float64)
        for r, c, s in zip(rows.tolist(), comm.tolist(), share.tolist(), strict=True):
            if r >= 0:
                self._memb.setdefault(r, []).append((c, s))

    def _orders(self) -> None:
        """What the community and overview pages sort or count, done once for the run: each
        sortable column's rank of every row (missing values last, either direction), the
        sub-communities of each community, the children of each parent, the top channels."""
        self._rank: dict[tuple[str, bool], np.ndarray] = {}
        columns = {"channel": self.nodes.column("channel")}
        for name in ("game", "language", *self.extras):
            if name in self.nodes.column_names and name in SORTABLE:
                columns[name] = self.nodes.column(name)
        n = len(self.channel)
        for name, column in columns.items():
            for descending in (False, True):
                order = pc.sort_indices(
                    pa.table({"v": column}),
                    [("v", "descending" if descending else "ascending", "at_end")],
                ).to_numpy()
                rank = np.empty(n, dtype=np.int64)
                rank[order] = np.arange(n)
                self._rank[(name, descending)] = rank
        self.subcommunities: dict[int, list[dict[str, Any]]] = {}
        if "subcommunity" in self.nodes.column_names:
            counts = (
                pa.table(
                    {"community": pa.array(self.community),
                     "subcommunity": self.nodes.column("subcommunity")}
                )
                .group_by(["community", "subcommunity"])
                .aggregate([([], "count_all")])
                .filter(pc.invert(pc.is_null(pc.field("subcommunity"))))
                .sort_by([("community", "ascending"), ("subcommunity", "ascending")])
            )  # fmt: skip
            for c, sub, k in zip(*counts.to_pydict().values(), strict=True):
                self.subcommunities.setdefault(int(c), []).append(
                    {"subcommunity": sub, "channels": int(k)}
                )
        self.children: dict[str, list[int]] = {}
        for cid, row in self.communities.items():
            if row.get("parent") is not None:
                self.children.setdefault(str(row["parent"]), []).append(cid)
        self.top_rows = np.argsort(-self.viewers, kind="stable")[:10]
        self.community_order = sorted(
            self.communities,
            key=lambda c: (c < 0, -int(self.communities[c].get("size") or 0), c),
        )

    # ------------------------------------------------------------------ lookups

    def sorted_members(self, community: int, sort: str, descending: bool) -> np.ndarray:
        """The community's rows ordered by ``sort`` (a column of nodes; ``viewers`` is the
        stored order); missing values last either way."""
        rows = self.members(community)
        if sort == "viewers":
            return rows if descending else rows[::-1]
        rank = self._rank.get((sort, descending))
        if rank is None:  # a column this run does not have: the stored order
            return rows
        return rows[np.argsort(rank[rows], kind="stable")]

    def row(self, platform: str, channel: str) -> int | None:
        return self.index.get((platform, channel))

    def node(self, i: int) -> dict[str, Any]:
        """The channel in row ``i`` as plain values (what the pages and the JSON show)."""
        out: dict[str, Any] = {
            "platform": self.platform_list[i],
            "channel": self.channel[i],
            "community": int(self.community[i]),
            "label": self.label[i],
            "viewers": int(self.viewers[i]),
            "game": self.game[i],
            "language": self.language[i],
            "title": self.title[i],
        }
        for name, values in self.extras.items():
            value = values[i]
            out[name] = _finite(value) if isinstance(value, float) else value
        return out

    def similar(self, i: int, top: int) -> list[SimilarRow]:
        """The ``top`` channels sharing most audience with row ``i`` (``similar.parquet``
        when the run has it, else its edges: shared viewers and shares from viewers)."""
        if self._sim is not None:
            lo, hi = np.searchsorted(self._sim_owner, [i, i + 1])
            hi = min(hi, lo + top)
            part = self._sim.slice(lo, hi - lo).to_pydict()
            others = self._sim_other[lo:hi].tolist()
            plats = part.get(self._sim_other_platform) or [DEFAULT_PLATFORM] * (hi - lo)
            lifts = part.get("lift") or [None] * (hi - lo)
            return [
                SimilarRow(
                    platform=str(plats[k] or DEFAULT_PLATFORM) if o < 0 else self.platform_list[o],
                    channel=str(part["other"][k]),
                    shared=int(part["shared"][k]),
                    share_of_channel=float(part["share_of_channel"][k]),
                    share_of_other=float(part["share_of_other"][k]),
                    lift=None if lifts[k] is None else _finite(float(lifts[k])),
                )
                for k, o in enumerate(others)
            ]
        lo, hi = int(self._ptr[i]), int(self._ptr[i + 1])
        nbr, shared = self._nbr[lo:hi], self._nbr_shared[lo:hi]
        pick = np.lexsort((nbr, -shared))[:top]
        nbr, shared = nbr[pick], shared[pick]
        own = max(int(self.viewers[i]), 1)
        theirs = np.maximum(self.viewers[nbr], 1)
        lift = shared * self.total_viewers / (own * theirs) if self.total_viewers else None
        return [
            SimilarRow(
                platform=self.platform_list[o],
                channel=self.channel[o],
                shared=int(s),
                share_of_channel=s / own,
                share_of_other=s / int(t),
                lift=None if lift is None else float(lift[k]),
            )
            for k, (o, s, t) in enumerate(
                zip(nbr.tolist(), shared.tolist(), theirs.tolist(), strict=True)
            )
        ]

    def memberships(self, i: int) -> list[tuple[int, float]]:
        """(community, share) of row ``i``, largest share first (empty without the file)."""
        return sorted(self._memb.get(i, []), key=lambda cs: -cs[1])

    def members(self, community: int) -> np.ndarray:
        """Rows of the community's channels, most viewers first."""
        return self._members.get(community, np.empty(0, dtype=np.int64))

    def neighbours(self, community: int, top: int) -> list[dict[str, Any]]:
        """The communities sharing most audience with ``community`` (edges between them)."""
        hit = np.searchsorted(self._cids, community)
        if hit >= self._cids.size or self._cids[hit] != community:
            return []
        row = self._between_shared.getrow(hit)
        links = self._between_links.getrow(hit)
        cols, shared = row.indices, row.data
        link_of = dict(zip(links.indices.tolist(), links.data.tolist(), strict=True))
        order = [
            (int(cols[j]), float(shared[j]))
            for j in np.argsort(-shared, kind="stable")[:top].tolist()
            if shared[j] > 0
        ]
        return [
            {
                "community": int(self._cids[j]),
                "label": self.communities.get(int(self._cids[j]), {}).get("label"),
                "shared": int(value),
                "links": int(link_of.get(j, 0)),
            }
            for j, value in order
        ]

    def search(self, query: str, limit: int) -> list[int]:
        """Rows whose channel name contains ``query`` (case-insensitive), biggest first."""
        hits = pc.match_substring(self.nodes.column("channel"), query, ignore_case=True)
        rows = np.flatnonzero(np.asarray(pc.fill_null(hits, False).to_numpy(zero_copy_only=False)))
        exact = [r for r in rows.tolist() if self.channel[r].lower() == query.lower()]
        rest = rows[np.argsort(-self.viewers[rows], kind="stable")].tolist()
        return list(dict.fromkeys(exact + rest))[:limit]
