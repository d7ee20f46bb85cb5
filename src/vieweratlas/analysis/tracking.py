"""Communities followed across windows: lineages, events and migrations.

The matching is Greene, Doyle & Cunningham's (2010, "Tracking the evolution of communities
in dynamic social networks", ASONAM): a community of window *t* continues a lineage of
window *t-1* when the Jaccard similarity of their member sets reaches θ
(``threshold``). Greene's dynamic communities may share a front after a merge; here every
channel needs one lineage per window, so among the related pairs the continuation is a
one-to-one matching, greedy by Jaccard (then by shared channels), and the rest become events:

* a community related to no lineage is a ``birth``; a lineage related to no community, a
  ``death``;
* a lineage related to several communities continues in one and ``split``s into the others
  (new lineages);
* several lineages related to one community ``merge``: the community continues one of them;
* a continuing lineage whose size changed by ``change`` or more (relative) ``grow``s or
  ``shrink``s.

Besides Jaccard ≥ θ, a pair is also related when most of the smaller set lies in the other
(overlap coefficient ``|A∩B| / min(|A|, |B|) ≥ containment``, with at least
``min_shared`` channels in common), so a small piece breaking off a big community is a
split, not a birth (with Jaccard alone it would be, its Jaccard being small). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EVENTS = ("birth", "death", "merge", "split", "grow", "shrink")

EVENT_SCHEMA = pa.schema(
    [
        ("window", pa.string()),
        ("event", pa.string()),
        ("lineage", pa.int64()),
        ("detail", pa.string()),
    ]
)
LINEAGE_SCHEMA = pa.schema(
    [
        ("window", pa.string()),
        ("platform", pa.string()),
        ("channel", pa.string()),
        ("lineage", pa.int64()),
    ]
)
MIGRATION_SCHEMA = pa.schema(
    [
        ("window", pa.string()),
        ("platform", pa.string()),
        ("channel", pa.string()),
        ("from_lineage", pa.int64()),
        ("to_lineage", pa.int64()),
        ("kind", pa.string()),  # move | split | merge
    ]
)


@dataclass(frozen=True)
class MatchRules:
    """Thresholds of the matching (see the module docstring)."""

    threshold: float = 0.3
    containment: float = 0.5
    min_shared: int = 3
    change: float = 0.25


@dataclass(frozen=True)
class WindowCommunities:
    """One window's communities: ``table`` has ``platform, channel, community`` (community
    -1 = unclustered, not tracked)."""

    window: str
    table: pa.Table


@dataclass(frozen=True)
class Tracking:
    """Lineage of every clustered channel in every window, the events, the migrations."""

    lineage: pa.Table  # LINEAGE_SCHEMA
    events: pa.Table  # EVENT_SCHEMA
    migrations: pa.Table  # MIGRATION_SCHEMA
    sizes: pa.Table  # window, lineage, channels (one row per lineage alive in a window)


@dataclass
class _Events:
    window: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    lineage: list[int] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)

    def add(self, window: str, event: str, lineage: int, detail: str) -> None:
        self.window.append(window)
        self.event.append(event)
        self.lineage.append(lineage)
        self.detail.append(detail)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "window": self.window,
                "event": self.event,
                "lineage": self.lineage,
                "detail": self.detail,
            },
            schema=EVENT_SCHEMA,
        )


def _ids(windows: list[WindowCommunities]) -> tuple[list[np.ndarray], pa.Table]:
    """A global integer id per (platform, channel) across windows, and the id → name table."""
    schema = pa.schema([("platform", pa.string()), ("channel", pa.string())])
    tables = [w.table.select(["platform", "channel"]).cast(schema) for w in windows]
    both = pa.concat_tables(tables) if tables else schema.empty_table()
    key = pc.binary_join_element_wise(both["platform"], both["channel"], "\x1f")
    encoded = pc.dictionary_encode(key).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.unique(codes, return_index=True)[1]
    names = both.take(pa.array(first, pa.int64()))
    out, start = [], 0
    for t in tables:
        out.append(codes[start : start + t.num_rows])
        start += t.num_rows
    return out, names


def _related(
    prev_members: np.ndarray,
    prev_lineage: np.ndarray,
    cur_members: np.ndarray,
    cur_community: np.ndarray,
    rules: MatchRules,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, int], dict[int, int]]:
    """Related (lineage, community) pairs with their shared channels and Jaccard, plus sizes."""
    lin_ids, lin_sizes = np.unique(prev_lineage, return_counts=True)
    com_ids, com_sizes = np.unique(cur_community, return_counts=True)
    size_l = dict(zip(lin_ids.tolist(), lin_sizes.tolist(), strict=True))
    size_c = dict(zip(com_ids.tolist(), com_sizes.tolist(), strict=True))
    common, ip, ic = np.intersect1d(prev_members, cur_members, return_indices=True)
    pair_l = prev_lineage[ip].astype(np.int64)
    pair_c = cur_community[ic].astype(np.int64)
    if len(common) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, np.zeros(0), size_l, size_c
    span = int(pair_c.max()) + 1
    keys, inter = np.unique(pair_l * span + pair_c, return_counts=True)
    ls, cs = keys // span, keys % span
    a = np.array([size_l[x] for x in ls.tolist()], np.float64)
    b = np.array([size_c[x] for x in cs.tolist()], np.float64)
    jac = inter / (a + b - inter)
    coef = inter / np.minimum(a, b)
    ok = (jac >= rules.threshold) | ((coef >= rules.containment) & (inter >= rules.min_shared))
    return ls[ok], cs[ok], inter[ok], jac[ok], size_l, size_c


def track(windows: list[WindowCommunities], rules: MatchRules | None = None) -> Tracking:
    """Match each window's communities to the lineages of the window before it."""
    rules = rules or MatchRules()
    codes, names = _ids(windows)
    events = _Events()
    lineage_parts: list[tuple[str, np.ndarray, np.ndarray]] = []
    migrations: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str]]] = []
    next_id = 1
    prev_members = np.zeros(0, np.int64)
    prev_lineage = np.zeros(0, np.int64)
    for t, (w, code) in enumerate(zip(windows, codes, strict=True)):
        community = w.table["community"].to_numpy(zero_copy_only=False).astype(np.int64)
        clustered = community >= 0
        members, community = code[clustered], community[clustered]
        com_ids = np.unique(community)
        com_size = np.bincount(np.searchsorted(com_ids, community), minlength=len(com_ids))
        assign: dict[int, int] = {}
        if t == 0:
            for c in com_ids[np.lexsort((com_ids, -com_size))].tolist():
                assign[c], next_id = next_id, next_id + 1
        else:
            ls, cs, inter, jac, size_l, size_c = _related(
                prev_members, prev_lineage, members, community, rules
            )
            # continuation: one-to-one, greedy by Jaccard then shared channels
            taken_l: set[int] = set()
            for i in np.lexsort((cs, ls, -inter, -jac)).tolist():
                lin, com = int(ls[i]), int(cs[i])
                if lin in taken_l or com in assign:
                    continue
                assign[com] = lin
                taken_l.add(lin)
                before, after = size_l[lin], size_c[com]
                if after >= before * (1 + rules.change):
                    events.add(w.window, "grow", lin, f"channels={before}->{after}")
                elif after <= before * (1 - rules.change):
                    events.add(w.window, "shrink", lin, f"channels={before}->{after}")
            # pieces related only to lineages continuing elsewhere split off the biggest share
            children: dict[int, list[int]] = {}
            for com in sorted(size_c, key=lambda c: (-size_c[c], c)):
                if com in assign:
                    continue
                rel = np.flatnonzero(cs == com)
                if len(rel):
                    parent = int(ls[rel[np.lexsort((ls[rel], -inter[rel]))[0]]])
                    children.setdefault(parent, []).append(next_id)
                else:
                    events.add(w.window, "birth", next_id, f"channels={size_c[com]}")
                assign[com], next_id = next_id, next_id + 1
            for parent, kids in sorted(children.items()):
                # the parent continues too (it was matched first, or the piece would be it)
                into = ",".join(str(x) for x in [parent, *kids])
                events.add(w.window, "split", parent, f"into={into}")
            # lineages without a continuation: merged into a related community, or dead
            merged_into: dict[int, list[int]] = {}
            for lin in sorted(size_l):
                if lin in taken_l:
                    continue
                rel = np.flatnonzero(ls == lin)
                if len(rel):
                    target = int(cs[rel[np.lexsort((cs[rel], -inter[rel]))[0]]])
                    merged_into.setdefault(assign[target], []).append(lin)
                else:
                    events.add(w.window, "death", lin, f"channels={size_l[lin]}")
            for target, sources in sorted(merged_into.items()):
                frm = ",".join(str(x) for x in sorted(sources))
                events.add(w.window, "merge", target, f"from={frm}")
            ended = {lin for srcs in merged_into.values() for lin in srcs}
            born = {kid for kids in children.values() for kid in kids}
            lookup = np.array([assign[c] for c in community.tolist()], np.int64)
            migrations.append(
                _moves(w.window, prev_members, prev_lineage, members, lookup, ended, born)
            )
        lineage = np.array([assign[c] for c in community.tolist()], np.int64)
        lineage_parts.append((w.window, members, lineage))
        prev_members, prev_lineage = members, lineage
    return _tables(lineage_parts, events, migrations, names)


def _moves(
    window: str,
    prev_members: np.ndarray,
    prev_lineage: np.ndarray,
    members: np.ndarray,
    lineage: np.ndarray,
    ended: set[int],
    born: set[int],
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    common, ip, ic = np.intersect1d(prev_members, members, return_indices=True)
    moved = prev_lineage[ip] != lineage[ic]
    frm, to = prev_lineage[ip][moved], lineage[ic][moved]
    kind = [
        "split" if b in born else "merge" if a in ended else "move"
        for a, b in zip(frm.tolist(), to.tolist(), strict=True)
    ]
    return window, common[moved], frm, to, kind


def _tables(
    parts: list[tuple[str, np.ndarray, np.ndarray]],
    events: _Events,
    migrations: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str]]],
    names: pa.Table,
) -> Tracking:
    def named(ids: np.ndarray) -> tuple[pa.Array, pa.Array]:
        taken = names.take(pa.array(ids, pa.int64()))
        return taken["platform"].combine_chunks(), taken["channel"].combine_chunks()

    lineage_tables, size_tables = [], []
    for window, members, lineage in parts:
        order = np.lexsort((members, lineage))
        platform, channel = named(members[order])
        lineage_tables.append(
            pa.table(
                {
                    "window": pa.repeat(pa.scalar(window), len(order)),
                    "platform": platform,
                    "channel": channel,
                    "lineage": pa.array(lineage[order], pa.int64()),
                },
                schema=LINEAGE_SCHEMA,
            )
        )
        ids, counts = np.unique(lineage, return_counts=True)
        size_tables.append(
            pa.table(
                {
                    "window": pa.repeat(pa.scalar(window), len(ids)),
                    "lineage": pa.array(ids, pa.int64()),
                    "channels": pa.array(counts, pa.int64()),
                }
            )
        )
    move_tables = []
    for window, ids, frm, to, kind in migrations:
        platform, channel = named(ids)
        move_tables.append(
            pa.table(
                {
                    "window": pa.repeat(pa.scalar(window), len(ids)),
                    "platform": platform,
                    "channel": channel,
                    "from_lineage": pa.array(frm, pa.int64()),
                    "to_lineage": pa.array(to, pa.int64()),
                    "kind": pa.array(kind, pa.string()),
                },
                schema=MIGRATION_SCHEMA,
            )
        )
    return Tracking(
        lineage=_concat(lineage_tables, LINEAGE_SCHEMA),
        events=events.table(),
        migrations=_concat(move_tables, MIGRATION_SCHEMA),
        sizes=_concat(
            size_tables,
            pa.schema([("window", pa.string()), ("lineage", pa.int64()), ("channels", pa.int64())]),
        ),
    )


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables(tables) if tables else schema.empty_table()
