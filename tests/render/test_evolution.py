"""evolution.png / evolution.json: readable at 50 lineages × 12 windows (the biggest drawn,
the rest grouped), flows conserve channels, hostile labels are harmless."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from vieweratlas.render.evolution import OTHER, evolution_data, write_evolution


def churning_lineages(n_lineages: int = 50, windows: int = 12, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    sizes = (200 / np.arange(1, n_lineages + 1)).astype(int) + 3
    owner = np.repeat(np.arange(1, n_lineages + 1), sizes)
    rows = []
    for w in range(windows):
        moved = rng.random(len(owner)) < 0.05
        owner = np.where(moved, rng.integers(1, n_lineages + 1, len(owner)), owner)
        for i, lin in enumerate(owner.tolist()):
            rows.append((f"2026-01-{w + 1:02d}", f"c{i}", lin))
    window, channel, lineage = zip(*rows, strict=True)
    return pa.table(
        {
            "window": list(window),
            "platform": ["twitch"] * len(rows),
            "channel": list(channel),
            "lineage": pa.array(lineage, pa.int64()),
        }
    )


def test_big_lineages_drawn_small_grouped(tmp_path: Path) -> None:
    table = churning_lineages()
    windows = sorted(set(table["window"].to_pylist()))
    labels = {1: "<script>alert(1)</script> $x$", 2: "=cmd|' /C calc'!A0"}
    data = evolution_data(table, windows, labels, top=20, min_flow=0.02)
    assert len(data["lineages"]) == 20 and data["other_lineages"] == 30
    per_window = {}
    for b in data["blocks"]:
        per_window.setdefault(b["window"], 0)
        per_window[b["window"]] += b["channels"]
        assert b["lineage"] in {x["lineage"] for x in data["lineages"]} | {OTHER}
    assert set(per_window.values()) == {table.num_rows // 12}  # every channel in a block
    for w in range(11):  # flows drawn + grouped = channels present in both windows
        assert sum(f["channels"] for f in data["flows"] if f["from"] == w) == table.num_rows // 12
    drawn = [f for f in data["flows"] if f["source"] is not None]
    assert all(f["channels"] >= 0.02 * (table.num_rows // 12) for f in drawn)
    files = write_evolution(tmp_path, data)
    assert files == ["evolution.json", "evolution.png"]
    assert (tmp_path / "evolution.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "evolution.json").read_text())["windows"] == windows
