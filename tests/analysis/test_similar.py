"""Similar channels against a brute-force count over the presence rows (Python sets), with
bots removed by the very rules ``analyze`` uses; and a run's ``similar.parquet``."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots
from vieweratlas.analysis.similar import (
    Audience,
    audience_of,
    compare,
    shared_pairs,
    similar_to,
    top_from_edges,
    top_similar,
)
from vieweratlas.config import BotSettings
from vieweratlas.errors import AnalysisError

T0 = datetime(2026, 4, 1, tzinfo=UTC)
Case = tuple[pa.Table, Audience, set[tuple[str, str]]]


def world(seed: int = 0, channels: int = 60, users: int = 900) -> pa.Table:
    """Presence on two platforms with clumpy audiences, a blocklisted bot, and a lurker
    sitting in most channels at once (both removed by the bot rules)."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[datetime, str, str, str]] = []
    for u in range(users):
        platform = "twitch" if u % 5 else "kick"
        home = rng.integers(0, channels // 6)
        picks = {int(home * 6 + rng.integers(0, 6)) for _ in range(rng.integers(1, 5))}
        if rng.random() < 0.2:
            picks.add(int(rng.integers(0, channels)))
        for c in picks:
            for snap in {int(rng.integers(0, 3)) for _ in range(2)}:
                rows.append((T0 + timedelta(minutes=5 * snap), platform, f"c{c:02d}", f"u{u}"))
    for c in range(channels):
        rows.append((T0, "twitch", f"c{c:02d}", "nightbot"))
        if c < 45:
            rows.append((T0, "twitch", f"c{c:02d}", "lurker9000"))
    ts, platform, channel, user = zip(*rows, strict=True)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "platform": list(platform),
            "channel": list(channel),
            "user": list(user),
        }
    )


def brute(
    presence: pa.Table, bots: set[tuple[str, str]]
) -> tuple[dict[tuple[str, str], set[tuple[str, str]]], int]:
    """Viewer sets per (platform, channel) without the bots, and N (viewers after bots)."""
    sets: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    everyone = set()
    for r in presence.to_pylist():
        viewer = (r["platform"], r["user"])
        everyone.add(viewer)
        if viewer not in bots:
            sets[(r["platform"], r["channel"])].add(viewer)
    return sets, len(everyone - bots)


@pytest.fixture(scope="module")
def case() -> Case:
    presence = world()
    inc = aggregate(presence)
    report = detect_bots(inc, BotSettings())
    bots = set(
        zip(report.table["platform"].to_pylist(), report.table["user"].to_pylist(), strict=True)
    )
    return presence, audience_of(inc, report.removed), bots


def test_bots_are_removed(case: Case) -> None:
    _, _, bots = case
    assert ("twitch", "nightbot") in bots and ("twitch", "lurker9000") in bots


def test_one_column_matches_brute_force(
    case: Case,
) -> None:
    presence, audience, bots = case
    sets, n = brute(presence, bots)
    assert audience.users == n
    idents = list(zip(audience.platform.to_pylist(), audience.channel.to_pylist(), strict=True))
    for col in (0, 7, len(idents) - 1):
        me = idents[col]
        got = similar_to(audience, col, top=None)
        expect = {o: len(sets[me] & sets[o]) for o in sets if o != me and sets[me] & sets[o]}
        rows = got.to_pylist()
        assert {(r["other_platform"], r["other"]): r["shared"] for r in rows} == expect
        for r in rows:
            o = (r["other_platform"], r["other"])
            assert (r["platform"], r["channel"]) == me
            assert r["share_of_channel"] == pytest.approx(expect[o] / len(sets[me]), abs=1e-9)
            assert r["share_of_other"] == pytest.approx(expect[o] / len(sets[o]), abs=1e-9)
            lift = expect[o] * n / (len(sets[me]) * len(sets[o]))
            assert r["lift"] == pytest.approx(lift, abs=1e-9)
        shared = [r["shared"] for r in rows]
        assert shared == sorted(shared, reverse=True)
        by_lift = similar_to(audience, col, top=3, sort="lift")
        assert by_lift["lift"].to_pylist() == sorted(r["lift"] for r in rows)[::-1][:3]


def test_same_name_on_two_platforms_is_two_channels(
    case: Case,
) -> None:
    _, audience, _ = case
    idents = list(zip(audience.platform.to_pylist(), audience.channel.to_pylist(), strict=True))
    assert ("kick", "c00") in idents and ("twitch", "c00") in idents


def test_top_of_every_channel_matches_brute_force(
    case: Case,
) -> None:
    presence, audience, bots = case
    sets, _ = brute(presence, bots)
    table = top_similar(audience, top=5, block=7)
    got: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in table.to_pylist():
        got[(r["platform"], r["channel"])].append(r["shared"])
    for me in sets:
        counts = sorted((len(sets[me] & sets[o]) for o in sets if o != me), reverse=True)
        assert got.get(me, []) == [c for c in counts[:5] if c > 0]


def test_top_from_edges_agrees_with_the_matrix(
    case: Case,
) -> None:
    _, audience, _ = case
    full = top_similar(audience, top=10_000)
    idx = {
        k: i
        for i, k in enumerate(
            zip(audience.channel.to_pylist(), audience.platform.to_pylist(), strict=True)
        )
    }
    upper = [
        r
        for r in full.to_pylist()
        if idx[(r["channel"], r["platform"])] < idx[(r["other"], r["other_platform"])]
    ]
    src = np.array([idx[(r["channel"], r["platform"])] for r in upper])
    dst = np.array([idx[(r["other"], r["other_platform"])] for r in upper])
    shared = np.array([r["shared"] for r in upper])
    via_edges = top_from_edges(
        src, dst, shared, audience.viewers(), audience.platform, audience.channel,
        users=audience.users, top=4,
    )  # fmt: skip
    assert via_edges.equals(top_similar(audience, top=4))


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_shared_pairs_are_every_pair_once_with_brute_force_counts(case: Case, block: int) -> None:
    presence, audience, bots = case
    sets, _ = brute(presence, bots)
    idents = list(zip(audience.platform.to_pylist(), audience.channel.to_pylist(), strict=True))
    pairs = shared_pairs(audience.matrix, block=block)
    assert (pairs.a < pairs.b).all()
    got = {
        (idents[a], idents[b]): s
        for a, b, s in zip(pairs.a.tolist(), pairs.b.tolist(), pairs.shared.tolist(), strict=True)
    }
    assert len(got) == len(pairs)  # each pair once
    expect = {
        (idents[i], idents[j]): len(sets[idents[i]] & sets[idents[j]])
        for i, j in itertools.combinations(range(len(idents)), 2)
        if sets[idents[i]] & sets[idents[j]]
    }
    assert got == expect
    # The run's similar channels from these counts are the ones from the matrix.
    assert top_similar(audience, top=4, block=5, pairs=pairs).equals(top_similar(audience, top=4))


def test_comparison_matches_brute_force(
    case: Case,
) -> None:
    presence, audience, bots = case
    sets, n = brute(presence, bots)
    idents = list(zip(audience.platform.to_pylist(), audience.channel.to_pylist(), strict=True))
    cols = [0, 1, 2, 6]
    labels = [f"{p}/{c}" for p, c in (idents[i] for i in cols)]
    result = compare(audience, cols, labels)
    chosen = [sets[idents[i]] for i in cols]
    for r in result.pairs.to_pylist():
        a, b = labels.index(r["a"]), labels.index(r["b"])
        assert r["shared"] == len(chosen[a] & chosen[b])
        assert r["lift"] == pytest.approx(
            r["shared"] * n / (len(chosen[a]) * len(chosen[b])), abs=1e-9
        )
    union = set().union(*chosen)
    expect = {}
    for k in range(1, len(cols) + 1):
        for combo in itertools.combinations(range(len(cols)), k):
            inside = set.intersection(*(chosen[i] for i in combo))
            outside = set().union(*(chosen[i] for i in range(len(cols)) if i not in combo))
            if inside - outside:
                expect[" & ".join(labels[i] for i in combo)] = len(inside - outside)
    got = {r["subset"]: r["viewers"] for r in result.subsets.to_pylist()}
    assert got == expect
    assert sum(got.values()) == len(union)


def test_comparison_needs_two_distinct_channels(
    case: Case,
) -> None:
    _, audience, _ = case
    with pytest.raises(AnalysisError):
        compare(audience, [3], ["x"])
    with pytest.raises(AnalysisError):
        compare(audience, [3, 3], ["x", "y"])


def test_channel_watched_only_by_bots_has_no_similar_and_no_nan() -> None:
    presence = world(seed=1)
    extra = pa.table(
        {
            "ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "platform": ["twitch"],
            "channel": ["botsonly"],
            "user": ["nightbot"],
        }
    )
    inc = aggregate(pa.concat_tables([presence, extra]))
    audience = audience_of(inc, detect_bots(inc, BotSettings()).removed)
    col = audience.channel.to_pylist().index("botsonly")
    assert similar_to(audience, col, top=None).num_rows == 0
    result = compare(audience, [col, 0], ["botsonly", "c00"])
    assert result.pairs["shared"].to_pylist() == [0]
    assert result.pairs["share_of_a"].to_pylist() == [0.0]
