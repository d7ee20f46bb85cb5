"""Coverage, hierarchy, bridges and confidence on the two-level planted generator.

Data from ``planted.py`` (independent of ``vieweratlas.synth``) goes through the real lake
and the real three steps (local engine, communities, publish) with the default preset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
from planted import Planted, generate
from scoring import score

from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.pipeline import analyze


def run(spec: Planted, tmp_path: Path, **analysis: object) -> tuple[object, object]:
    presence, truth = generate(spec)
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence)
    settings = load_settings(environ={}, overrides={"analysis": analysis} if analysis else None)
    result = analyze(lake, settings, tmp_path / "out", render=False)
    memberships = pacsv.read_csv(tmp_path / "out" / "memberships.csv")
    return score(result.nodes, memberships, truth), result


@pytest.mark.parametrize(
    "spec",
    [
        Planted(channels=1500, communities=12, mixing=0.3, seed=11, focus=0.8),
        Planted(channels=1500, communities=12, mixing=0.4, seed=12, focus=0.8),
    ],
    ids=["mixing-0.3", "mixing-0.4"],
)
def test_every_channel_placed_with_hierarchy_bridges_and_confidence(
    spec: Planted, tmp_path: Path
) -> None:
    s, result = run(spec, tmp_path)
    assert s.placed >= 0.98
    assert s.nmi >= 0.95
    assert s.sub_nmi >= 0.9
    assert s.bridge_recall >= 0.8
    assert s.bridge_precision >= 0.8
    # Low confidence marks the channels most often misplaced.
    assert s.wrong_low >= s.wrong_high
    nodes = result.nodes  # type: ignore[attr-defined]
    communities = result.communities  # type: ignore[attr-defined]
    # Nested: every sub-community lies inside the community named as its parent.
    parent = dict(
        zip(communities["community"].to_pylist(), communities["parent"].to_pylist(), strict=True)
    )
    for c, sub in zip(
        nodes["community"].to_pylist(), nodes["subcommunity"].to_pylist(), strict=True
    ):
        if c >= 0:
            assert parent[sub] == c
    conf = nodes["confidence"].to_numpy(zero_copy_only=False)
    assert np.all((conf[~np.isnan(conf)] >= 0) & (conf[~np.isnan(conf)] <= 1))


def test_same_seed_same_confidence(tmp_path: Path) -> None:
    spec = Planted(channels=300, communities=4, mixing=0.3, seed=3, focus=0.8)
    _, a = run(spec, tmp_path / "a")
    _, b = run(spec, tmp_path / "b")
    assert a.nodes.select(["community", "subcommunity", "confidence"]).equals(  # type: ignore[attr-defined]
        b.nodes.select(["community", "subcommunity", "confidence"])  # type: ignore[attr-defined]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        Planted(channels=5000, communities=25, mixing=0.35, seed=21, focus=0.8),
        Planted(channels=5000, communities=25, mixing=0.25, seed=22, focus=0.8, lurkers=100),
    ],
    ids=["5k-mixing-0.35", "5k-mixing-0.25"],
)
def test_acceptance_at_5000_channels(spec: Planted, tmp_path: Path) -> None:
    s, _ = run(spec, tmp_path)
    assert s.placed >= 0.98
    assert s.nmi >= 0.95
    assert s.sub_nmi >= 0.9
    assert s.bridge_recall >= 0.8 and s.bridge_precision >= 0.8
