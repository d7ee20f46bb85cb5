from __future__ import annotations

import numpy as np
import pyarrow as pa

from vieweratlas.analysis.labels import label_communities


def labels(
    membership: list[int], viewers: list[int], games: list[str | None], langs: list[str | None]
) -> list[dict[str, object]]:
    n = len(membership)
    table = label_communities(
        np.array(membership),
        pa.array([f"ch{i}" for i in range(n)]),
        np.array(viewers),
        pa.array(games, pa.string()),
        pa.array(langs, pa.string()),
    )
    return table.to_pylist()


def test_dominant_game_and_language_by_viewers() -> None:
    rows = labels([0, 0, 0], [900, 50, 50], ["Chess", "Art", "Art"], ["en", "en", "de"])
    assert rows[0]["label"] == "Chess · EN"
    assert rows[0]["size"] == 3
    assert rows[0]["viewers"] == 1000
    assert rows[0]["top_channels"].startswith("ch0")
    assert rows[0]["games"].startswith("Chess (90%)")


def test_two_games_when_neither_dominates_and_a_count_when_mixed() -> None:
    two = labels([0, 0, 0], [45, 40, 15], ["A", "B", "C"], ["es", "es", "es"])
    assert two[0]["label"] == "A / B · ES"
    mixed = labels([0] * 4, [30, 25, 25, 20], ["A", "B", "C", "D"], ["fr", "de", "it", "pl"])
    assert mixed[0]["label"] == "A + 3 more · FR + 3 more"
    assert "…" not in mixed[0]["label"]


def test_fallback_to_top_channel_without_metadata_and_unique_labels() -> None:
    rows = labels(
        [0, 0, 1, 1, 2],
        [10, 90, 5, 6, 7],
        [None, None, "X", "X", "X"],
        [None, None, "en", "en", "en"],
    )
    by = {r["community"]: r["label"] for r in rows}
    assert by[0] == "around ch1"
    assert by[1] == "X · EN"
    assert by[2] == "X · EN (ch4)"
    assert len(set(by.values())) == 3


def test_unclustered_is_named_so() -> None:
    rows = labels([-1, 0, 0], [5, 5, 5], ["A", "A", "A"], ["en", "en", "en"])
    assert {r["community"]: r["label"] for r in rows}[-1] == "Unclustered"
