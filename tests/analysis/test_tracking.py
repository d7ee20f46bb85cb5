"""The lineage matcher against planted community events (the planted labels themselves:
the matcher alone, no detection noise), and on small hand-made cases."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planted_events import EventsSpec, PlantedWeek, generate

from vieweratlas.analysis.quality import nmi
from vieweratlas.analysis.tracking import MatchRules, WindowCommunities, track


def planted_windows(week: PlantedWeek) -> list[WindowCommunities]:
    out = []
    for day in week.days:
        t = week.truth.filter(pc.equal(week.truth["day"], day))
        codes = pc.dictionary_encode(t["group"]).combine_chunks().indices
        out.append(
            WindowCommunities(
                day,
                pa.table(
                    {
                        "platform": ["twitch"] * t.num_rows,
                        "channel": t["channel"],
                        "community": codes.cast(pa.int64()),
                    }
                ),
            )
        )
    return out


def lineage_of(
    result_lineage: pa.Table, day: str, channels: list[str] | tuple[str, ...]
) -> set[int]:
    t = result_lineage.filter(pc.equal(result_lineage["window"], day))
    t = t.filter(pc.is_in(t["channel"], value_set=pa.array(list(channels))))
    return set(t["lineage"].to_pylist())


def events_of(events: pa.Table, kinds: tuple[str, ...]) -> list[dict[str, object]]:
    return [e for e in events.to_pylist() if e["event"] in kinds]


def detail_ids(detail: str, key: str) -> set[int]:
    part = dict(p.split("=") for p in detail.split(";"))[key]
    return {int(x) for x in part.split(",")}


@pytest.fixture(scope="module")
def week() -> PlantedWeek:
    return generate(EventsSpec())


def test_planted_events_found_on_their_days(week: PlantedWeek) -> None:
    spec = week.spec
    result = track(planted_windows(week))
    lin, ev, days = result.lineage, result.events, week.days
    base = lambda c: [f"ch{c:03d}x{j:03d}" for j in range(spec.channels)]  # noqa: E731
    structural = events_of(ev, ("birth", "death", "merge", "split"))
    assert len(structural) == 4, structural  # exactly the planted ones, nothing spurious

    (split,) = events_of(ev, ("split",))
    assert split["window"] == days[spec.split_day]
    (parent,) = lineage_of(lin, days[spec.split_day - 1], base(0))
    assert split["lineage"] == parent
    halves = base(0)
    after = lineage_of(lin, days[spec.split_day], halves[: len(halves) // 2]) | lineage_of(
        lin, days[spec.split_day], halves[len(halves) // 2 :]
    )
    assert detail_ids(str(split["detail"]), "into") == after and parent in after

    (merge,) = events_of(ev, ("merge",))
    assert merge["window"] == days[spec.merge_day]
    before = lineage_of(lin, days[spec.merge_day - 1], base(1) + base(2))
    (merged,) = lineage_of(lin, days[spec.merge_day], base(1) + base(2))
    assert merge["lineage"] == merged and merged in before
    assert detail_ids(str(merge["detail"]), "from") == before - {merged}

    (death,) = events_of(ev, ("death",))
    assert death["window"] == days[spec.death_day]
    assert {death["lineage"]} == lineage_of(lin, days[spec.death_day - 1], week.died_channels)

    (birth,) = events_of(ev, ("birth",))
    assert birth["window"] == days[spec.birth_day]
    assert {birth["lineage"]} == lineage_of(lin, days[spec.birth_day], week.born_channels)

    moves = result.migrations.filter(pc.equal(result.migrations["kind"], "move")).to_pylist()
    assert sorted(m["channel"] for m in moves) == sorted(week.migrants)
    assert {m["window"] for m in moves} == {days[spec.migrate_day]}
    assert {m["to_lineage"] for m in moves} == lineage_of(lin, days[0], base(5))


def test_lineage_ids_follow_planted_groups(week: PlantedWeek) -> None:
    result = track(planted_windows(week))
    for day in week.days:
        t = week.truth.filter(pc.equal(week.truth["day"], day)).sort_by("channel")
        mine = result.lineage.filter(pc.equal(result.lineage["window"], day)).sort_by("channel")
        assert mine["channel"].to_pylist() == t["channel"].to_pylist()
        planted = pc.dictionary_encode(t["group"]).combine_chunks().indices.to_numpy()
        assert nmi(planted, mine["lineage"].to_numpy()) == pytest.approx(1.0)
    # a community untouched all week keeps one id
    steady = result.lineage.filter(pc.starts_with(result.lineage["channel"], "ch007"))
    assert len(set(steady["lineage"].to_pylist())) == 1


def window(name: str, groups: dict[int, list[str]]) -> WindowCommunities:
    rows = [(c, g) for g, chans in groups.items() for c in chans]
    return WindowCommunities(
        name,
        pa.table(
            {
                "platform": ["twitch"] * len(rows),
                "channel": [c for c, _ in rows],
                "community": pa.array([g for _, g in rows], pa.int64()),
            }
        ),
    )


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_small_piece_breaking_off_is_a_split_not_a_birth() -> None:
    a = names("a", 20)
    result = track([window("d0", {0: a}), window("d1", {0: a[:16], 1: a[16:]})])
    (event,) = events_of(result.events, ("birth", "split", "merge", "death"))
    assert event["event"] == "split" and event["lineage"] == 1
    assert detail_ids(str(event["detail"]), "into") == {1, 2}


def test_jaccard_only_without_containment_calls_it_a_birth() -> None:
    a = names("a", 20)
    rules = MatchRules(containment=1.1)  # overlap coefficient never reaches it: Greene only
    result = track([window("d0", {0: a}), window("d1", {0: a[:16], 1: a[16:]})], rules)
    assert [e["event"] for e in events_of(result.events, ("birth", "split"))] == ["birth"]


def test_grow_shrink_and_unclustered_ignored() -> None:
    a, b = names("a", 10), names("b", 10)
    d0 = window("d0", {0: a, 1: b, -1: ["lonely"]})
    d1 = window("d1", {0: [*a, *names("x", 5)], 1: b[:6], -1: ["lonely"]})
    result = track([d0, d1])
    kinds = {(e["event"], e["lineage"]) for e in result.events.to_pylist()}
    assert kinds == {("grow", 1), ("shrink", 2)}
    assert "lonely" not in result.lineage["channel"].to_pylist()
    assert result.migrations.num_rows == 0


def test_ids_are_deterministic_and_biggest_first() -> None:
    d0 = window("d0", {5: names("s", 3), 2: names("b", 9)})
    result = track([d0])
    got = dict(
        zip(
            result.lineage["channel"].to_pylist(),
            result.lineage["lineage"].to_pylist(),
            strict=True,
        )
    )
    assert got["b0"] == 1 and got["s0"] == 2
    assert np.array_equal(
        track([d0]).lineage["lineage"].to_numpy(), result.lineage["lineage"].to_numpy()
    )


@st.composite
def partitions(draw: st.DrawFn) -> list[WindowCommunities]:
    """A few windows of random communities over a small pool of channels (some absent)."""
    n_windows = draw(st.integers(1, 5))
    out = []
    for w in range(n_windows):
        labels = draw(st.lists(st.integers(-1, 4), min_size=0, max_size=30))
        groups: dict[int, list[str]] = {}
        for i, g in enumerate(labels):
            groups.setdefault(g, []).append(f"c{i}")
        out.append(window(f"w{w}", groups))
    return out


@given(partitions(), st.floats(0.1, 0.9), st.floats(0.3, 1.2))
@settings(max_examples=150, deadline=None)
def test_every_lineage_change_is_explained(
    windows: list[WindowCommunities], threshold: float, containment: float
) -> None:
    result = track(windows, MatchRules(threshold=threshold, containment=containment))
    lin = result.lineage.to_pylist()
    events = result.events.to_pylist()
    alive: list[set[int]] = []
    for w in windows:
        t = w.table.to_pylist()
        mine = {r["channel"]: r["lineage"] for r in lin if r["window"] == w.window}
        clustered = [r for r in t if r["community"] >= 0]
        assert set(mine) == {r["channel"] for r in clustered}
        # one lineage per community and one community per lineage
        pairs = {(r["community"], mine[r["channel"]]) for r in clustered}
        assert len(pairs) == len({c for c, _ in pairs}) == len({x for _, x in pairs})
        alive.append({x for _, x in pairs})
    explained_new = {
        (e["window"], int(x))
        for e in events
        if e["event"] == "split"
        for x in e["detail"].split("=")[1].split(",")
    } | {(e["window"], e["lineage"]) for e in events if e["event"] == "birth"}
    explained_end = {
        (e["window"], int(x))
        for e in events
        if e["event"] == "merge"
        for x in e["detail"].split("=")[1].split(",")
    } | {(e["window"], e["lineage"]) for e in events if e["event"] == "death"}
    for t in range(1, len(windows)):
        name = windows[t].window
        for new in alive[t] - alive[t - 1]:
            assert (name, new) in explained_new
        for gone in alive[t - 1] - alive[t]:
            assert (name, gone) in explained_end
    # every event names a lineage that exists around it
    every = set().union(*alive) if alive else set()
    assert all(e["lineage"] in every for e in events)
