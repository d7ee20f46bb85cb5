"""Community names from their dominant games and languages, weighted by viewers.

``"League of Legends · ES"``, ``"Just Chatting / Slots · EN"``, ``"Minecraft · EN+DE"``,
``"Dota 2 + 3 more · ES"`` (no two games reach the pair share: the top one and how many
others); when metadata is missing, the community is named after its most-watched channel.
Labels are made unique (a second "VALORANT · EN" gets its top channel appended).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.analysis.communities import UNCLUSTERED

TOP_CHANNELS = 5


@dataclass(frozen=True)
class LabelRules:
    single_share: float = 0.5  # one game/language names the community at this viewer share
    pair_share: float = 0.7  # else the top two, if together they reach this share


def _dominant(
    community: np.ndarray, value: pa.Array, weight: np.ndarray
) -> dict[int, list[tuple[str, float]]]:
    """Per community: (value, share of viewers) for known values, most-watched first."""
    table = pa.table({"c": community, "v": value, "w": weight.astype(np.float64)})
    table = table.filter(pc.and_(pc.is_valid(table["v"]), pc.not_equal(table["v"], "")))
    sums = table.group_by(["c", "v"]).aggregate([("w", "sum")])
    totals = (
        pa.table({"c": community, "w": weight.astype(np.float64)})
        .group_by("c")
        .aggregate([("w", "sum")])
    )
    total = dict(zip(totals["c"].to_pylist(), totals["w_sum"].to_pylist(), strict=True))
    out: dict[int, list[tuple[str, float]]] = {}
    rows = sorted(
        zip(sums["c"].to_pylist(), sums["v"].to_pylist(), sums["w_sum"].to_pylist(), strict=True),
        key=lambda r: (r[0], -r[2], r[1]),
    )
    for c, v, w in rows:
        out.setdefault(c, []).append((v, w / total[c] if total[c] else 0.0))
    return out


def _name(ranked: list[tuple[str, float]], rules: LabelRules, sep: str) -> str | None:
    if not ranked:
        return None
    (first, s1), *rest = ranked
    if s1 >= rules.single_share or not rest:
        return first
    second, s2 = rest[0]
    if s1 + s2 >= rules.pair_share:
        return f"{first}{sep}{second}"
    # Say how many others there are rather than an ellipsis that reads as part of a name.
    return f"{first} + {len(rest)} more"


def label_communities(
    membership: np.ndarray,
    channels: pa.Array,
    viewers: np.ndarray,
    game: pa.Array,
    language: pa.Array,
    rules: LabelRules | None = None,
) -> pa.Table:
    """One row per community: community, label, size, viewers, top_channels, games, languages.

    ``game``/``language`` align with ``channels`` and may hold nulls (no metadata).
    """
    rules = rules or LabelRules()
    games = _dominant(membership, game, viewers)
    langs = _dominant(membership, pc.utf8_upper(language), viewers)
    ids = np.unique(membership)
    rows: dict[str, list[object]] = {
        k: [] for k in ("community", "label", "size", "viewers", "top_channels", "games",
                        "languages")
    }  # fmt: skip
    used: set[str] = set()
    names = channels.to_pylist()
    for c in ids.tolist():
        members = np.flatnonzero(membership == c)
        top = members[np.argsort(-viewers[members], kind="stable")[:TOP_CHANNELS]]
        top_names = [names[i] for i in top]
        g = _name(games.get(c, []), rules, " / ")
        lang = _name(langs.get(c, []), rules, "+")
        if c == UNCLUSTERED:
            label = "Unclustered"
        elif g or lang:
            label = " · ".join(p for p in (g, lang) if p)
        else:
            label = f"around {top_names[0]}"
        if label in used:
            label = f"{label} ({top_names[0]})"
        used.add(label)
        rows["community"].append(c)
        rows["label"].append(label)
        rows["size"].append(len(members))
        rows["viewers"].append(int(viewers[members].sum()))
        rows["top_channels"].append(", ".join(top_names))
        rows["games"].append(", ".join(f"{v} ({s:.0%})" for v, s in games.get(c, [])[:3]))
        rows["languages"].append(", ".join(f"{v} ({s:.0%})" for v, s in langs.get(c, [])[:3]))
    return pa.table(
        {
            "community": pa.array(rows["community"], pa.int32()),
            "label": pa.array(rows["label"], pa.string()),
            "size": pa.array(rows["size"], pa.int32()),
            "viewers": pa.array(rows["viewers"], pa.int64()),
            "top_channels": pa.array(rows["top_channels"], pa.string()),
            "games": pa.array(rows["games"], pa.string()),
            "languages": pa.array(rows["languages"], pa.string()),
        }
    )
