"""Scores of a run against the planted truth of ``planted.py`` (tests and bench share them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from planted import Truth

from vieweratlas.analysis.quality import nmi


@dataclass(frozen=True)
class Score:
    nmi: float  # top level, over channels with >= min_viewers humans; unplaced = errors
    placed: float  # share of those channels placed in a community
    sub_nmi: float  # sub-community NMI within each planted community, size-weighted
    bridge_recall: float
    bridge_precision: float
    wrong_low: float  # misplaced rate among confidence < 0.8
    wrong_high: float  # misplaced rate among confidence >= 0.8
    low: int  # channels with confidence < 0.8


def score(nodes: pa.Table, memberships: pa.Table, truth: Truth, min_viewers: int = 10) -> Score:
    index = {name: i for i, name in enumerate(truth.names)}
    row = np.array([index[c] for c in nodes["channel"].to_pylist()])
    expected = np.flatnonzero(truth.humans >= min_viewers)
    found = np.full(len(truth.names), -1, dtype=np.int64)
    found[row] = nodes["community"].to_numpy()
    sub = np.full(len(truth.names), -1, dtype=np.int64)
    sub[row] = nodes["subcommunity"].to_numpy()
    conf = np.full(len(truth.names), np.nan)
    conf[row] = nodes["confidence"].to_numpy(zero_copy_only=False)

    f = found[expected].copy()
    missing = f < 0
    f[missing] = 1_000_000 + np.arange(int(missing.sum()))  # each unplaced channel: an error
    top = nmi(truth.community[expected], f)

    acc = weight = 0.0
    for c in np.unique(truth.community[expected]):
        members = expected[(truth.community[expected] == c) & (found[expected] >= 0)]
        if len(members) > 1:
            acc += len(members) * nmi(truth.subcommunity[members], sub[members])
            weight += len(members)

    # Planted community → found community: where most of its ordinary channels went.
    home: dict[int, int] = {}
    for c in np.unique(truth.community):
        members = np.flatnonzero((truth.community == c) & ~truth.bridge & (found >= 0))
        if len(members):
            home[int(c)] = Counter(found[members].tolist()).most_common(1)[0][0]
    ties: dict[int, set[int]] = {}
    for ch, cm in zip(
        memberships["channel"].to_pylist(), memberships["community"].to_pylist(), strict=True
    ):
        ties.setdefault(index[ch], set()).add(cm)
    planted = np.flatnonzero(truth.bridge & (found >= 0))
    hits = sum(
        1
        for i in planted.tolist()
        if {home.get(int(truth.community[i])), home.get(int(truth.second[i]))} <= ties.get(i, set())
    )
    flagged = np.array([i for i, t in ties.items() if len(t) >= 2], dtype=np.int64)

    ordinary = expected[~truth.bridge[expected] & (found[expected] >= 0)]
    wrong = np.array([found[i] != home.get(int(truth.community[i])) for i in ordinary])
    low = conf[ordinary] < 0.8
    return Score(
        nmi=top,
        placed=float(1 - missing.mean()),
        sub_nmi=acc / weight if weight else 1.0,
        bridge_recall=hits / len(planted) if len(planted) else 1.0,
        bridge_precision=float(truth.bridge[flagged].mean()) if len(flagged) else 1.0,
        wrong_low=float(wrong[low].mean()) if low.any() else 0.0,
        wrong_high=float(wrong[~low].mean()) if (~low).any() else 0.0,
        low=int(low.sum()),
    )
