"""What each dashboard page shows, as plain JSON-ready dicts.

One function per page; the HTML template and the ``/api/…`` twin render the same dict, so
the two can never disagree. Nothing here does HTTP: parameters arrive validated (see
:mod:`vieweratlas.web.params`), and a missing thing is :class:`NotFound`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from vieweratlas.web.params import BadRequest
from vieweratlas.web.rundata import RunData
from vieweratlas.web.source import DataSource, NotFound
from vieweratlas.web.tracking import colour

log = logging.getLogger(__name__)

__all__ = ["MEMBER_SORTS", "channel", "community", "evolution", "overview", "runs", "search"]

MEMBER_SORTS = ("channel", "viewers", "confidence", "degree", "game", "language")
PAGE_SIZE = 50  # members per page (?page=all: every one, rendered off the event loop)
TABLES = ("nodes", "edges", "communities", "memberships", "similar", "bots")


def _run(data: RunData) -> dict[str, Any]:
    window = data.summary.get("window") or {}
    return {
        "run_id": data.run_id,
        "created_at": data.info.created_at,
        "window_start": window.get("since") or data.info.window_start,
        "window_end": window.get("until") or data.info.window_end,
        "counts": data.summary.get("counts") or data.info.counts,
        "platforms": data.platforms,
        "modularity": data.summary.get("modularity"),
        "algorithm": data.summary.get("algorithm"),
    }


def downloads(data: RunData) -> list[dict[str, str]]:
    """Every table of the run in CSV and Parquet, and the other files as they are."""
    out = []
    for table in TABLES:
        if any(data.files.count(f"{table}.{ext}") for ext in ("csv", "parquet")):
            for ext in ("csv", "parquet"):
                out.append(
                    {"name": f"{table}.{ext}", "kind": "table", "table": table, "format": ext}
                )
    for name in data.files:
        stem, _, ext = name.rpartition(".")
        if stem in TABLES and ext in ("csv", "parquet"):
            continue
        out.append({"name": name, "kind": "file", "table": "", "format": ext})
    return out


def _community_row(data: RunData, cid: int) -> dict[str, Any]:
    row = dict(data.communities.get(cid) or {"community": cid})
    row["community"] = cid
    row.setdefault("size", int(data.members(cid).size))
    return row


def overview(src: DataSource, data: RunData) -> dict[str, Any]:
    communities = [_community_row(data, c) for c in data.community_order]
    top = [data.node(i) for i in data.top_rows.tolist()]
    return {
        "page": "overview",
        "lake": {"url_kind": "s3" if not src.lake.is_local else "folder", **src.lake_summary()},
        "run": _run(data),
        "runs_in_lake": len(src.runs()),
        "has_map": "atlas.html" in data.files,
        "communities": communities,
        "top_channels": top,
        "tracking": src.tracking() is not None,
    }


def search(data: RunData, query: str, limit: int = 50) -> dict[str, Any]:
    rows = data.search(query, limit) if query else []
    return {"page": "search", "run": _run(data), "query": query,
            "results": [data.node(i) for i in rows]}  # fmt: skip


def channel(src: DataSource, data: RunData, platform: str, name: str, top: int) -> dict[str, Any]:
    i = data.row(platform, name)
    if i is None:
        raise NotFound(f"no channel {platform}/{name} in run {data.run_id}")
    node = data.node(i)
    cid = node["community"]
    memberships = [
        {"community": c, "share": s, "label": data.communities.get(c, {}).get("label")}
        for c, s in data.memberships(i)
    ]
    history: list[dict[str, Any]] = []
    ranks: dict[str, Any] | None = None
    tracking = src.tracking()
    if tracking is not None:
        history = [
            {**h, "colour": colour(str(h["lineage"]))}
            for h in tracking.channel_history(platform, name)
        ]
        ranks = tracking.similar_ranks(platform, name)
    return {
        "page": "channel",
        "run": _run(data),
        "channel": node,
        "community": _community_row(data, cid) if cid in data.communities else None,
        "memberships": memberships,
        "has_memberships": data.has_memberships,
        "bridge": len(memberships) > 1 or bool(node.get("bridge")),
        "similar_source": "similar.parquet" if data.has_similar_file else "edges",
        "similar": [s.as_dict() for s in data.similar(i, top)],
        "history": history,
        "similar_ranks": ranks,
        "tracking": tracking is not None,
    }


def community(
    src: DataSource, data: RunData, cid: int, *, sort: str, descending: bool, page: int | None
) -> dict[str, Any]:
    """The community's page; ``page`` None: every member on one page."""
    rows = data.members(cid)
    if rows.size == 0 and cid not in data.communities:
        raise NotFound(f"no community {cid} in run {data.run_id}")
    pages = max((rows.size + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    if page is not None and page > pages:
        raise BadRequest(f"page={page}: community {cid} has {pages} page(s) of members")
    ordered = data.sorted_members(cid, sort, descending)
    if page is None:
        if rows.size > PAGE_SIZE:
            src.off_loop()  # a big render: not on the event loop
        shown = ordered
    else:
        shown = ordered[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    members = [data.node(i) for i in shown.tolist()]
    children = [_community_row(data, c) for c in data.children.get(str(cid), [])]
    info = _community_row(data, cid)
    lineage: dict[str, Any] | None = None
    tracking = src.tracking()
    if tracking is not None:
        keys = [(data.platform_list[i], data.channel[i]) for i in rows[:500].tolist()]
        found = tracking.lineage_of(keys)
        if found is not None:
            lineage = {
                "lineage": found,
                "colour": colour(found),
                "sizes": tracking.lineage_sizes(found),
                "events": tracking.lineage_events(found),
            }
    return {
        "page": "community",
        "run": _run(data),
        "community": info,
        "members": members,
        "member_count": int(rows.size),
        "sort": sort,
        "order": "desc" if descending else "asc",
        "page_number": page or "all",
        "pages": pages,
        "page_size": PAGE_SIZE,
        "sorts": [
            s
            for s in MEMBER_SORTS
            if s in ("viewers", "channel", "game", "language") or s in data.extras
        ],
        "subcommunities": data.subcommunities.get(cid, []),
        "children": children,
        "neighbours": data.neighbours(cid, 10),
        "lineage": lineage,
        "tracking": tracking is not None,
    }


def evolution(src: DataSource, lineage: str | None) -> dict[str, Any]:
    tracking = src.tracking()
    if tracking is None:
        return {"page": "evolution", "tracking": None, "selected": None}
    shapes = tracking.alluvial
    selected = None
    if lineage is not None:
        sizes = tracking.lineage_sizes(lineage)
        if not sizes:
            raise NotFound(f"no lineage {lineage!r} in {tracking.source}")
        selected = {
            "lineage": lineage,
            "colour": colour(lineage),
            "sizes": sizes,
            "events": tracking.lineage_events(lineage),
            "last_window": sizes[-1]["window"],
            "channels": tracking.lineage_channels(lineage, sizes[-1]["window"], 100),
        }
    return {
        "page": "evolution",
        "tracking": {
            "source": tracking.source,
            "windows": tracking.windows,
            "lineages": len({b["lineage"] for b in shapes.blocks}),
            "events": tracking.events.num_rows,
        },
        "alluvial": asdict(shapes),
        "selected": selected,
        "recent_events": tracking.recent_events(),
    }


def runs(src: DataSource) -> dict[str, Any]:
    return {"page": "runs", "runs": [asdict(r) for r in src.runs()]}
