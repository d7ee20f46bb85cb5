"""The analysis commands end to end: synth, analyze, demo, sql, config; errors exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from vieweratlas.cli import main
from vieweratlas.lake import Lake

SMALL = ["--channels", "120", "--viewers", "6000", "--communities", "4", "--lurker-bots", "5"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def synth_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    lake = tmp_path / "lake"
    code, out, _ = run(["synth", "--lake", str(lake), *SMALL, "--seed", "3"], capsys)
    assert code == 0
    assert "presence rows" in out
    return lake


def test_synth_writes_presence_channels_and_truth(synth_lake: Path) -> None:
    lake = Lake.open(str(synth_lake))
    assert lake.read("presence").num_rows > 10_000
    assert lake.read("channels").num_rows == 120
    truth = pacsv.read_csv(synth_lake / "synthetic" / "truth.csv")
    assert truth.column_names[:2] == ["channel", "community"]
    manifest = json.loads((synth_lake / "synthetic" / "manifest.json").read_text())
    assert "nightbot" in manifest["bots"]


def test_analyze_writes_every_run_output(
    synth_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, stdout, _ = run(["analyze", "--lake", str(synth_lake), "--out", str(out)], capsys)
    assert code == 0
    assert "NMI vs planted truth" in stdout
    for name in ("nodes.csv", "nodes.parquet", "edges.csv", "edges.parquet", "communities.csv",
                 "summary.json", "bots.csv", "atlas.png", "atlas.html", "graph.gexf"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    nodes = pq.read_table(out / "nodes.parquet")
    for column in ("channel", "community", "label", "viewers", "game", "language", "x", "y"):
        assert column in nodes.column_names
    channels = nodes["channel"].to_pylist()
    assert len(channels) == len(set(channels))  # every channel exactly once
    edges = pq.read_table(out / "edges.parquet")
    assert edges.column_names[:4] == ["source", "target", "shared", "weight"]
    assert set(edges["source"].to_pylist()) | set(edges["target"].to_pylist()) <= set(channels)
    communities = pacsv.read_csv(out / "communities.csv")
    assert communities.column_names[:8] == [
        "community", "label", "size", "viewers", "top_channels", "games", "languages",
        "channel_viewers_sum",
    ]  # fmt: skip
    assert {"parent", "level", "stability"} <= set(communities.column_names)
    top = communities.filter(pc.is_null(communities["parent"]))
    assert sum(top["size"].to_pylist()) == len(channels)
    subs = communities.filter(pc.is_valid(communities["parent"]))
    assert sum(subs["size"].to_pylist()) == len(channels)  # nested: every channel once
    # A community's viewers are unique viewers: at most the sum over its channels, at least
    # its biggest channel's.
    biggest = {}
    for row in nodes.select(["community", "viewers"]).to_pylist():
        biggest[row["community"]] = max(biggest.get(row["community"], 0), row["viewers"])
    for row in top.to_pylist():
        assert biggest[row["community"]] <= row["viewers"] <= row["channel_viewers_sum"]
    assert any(r["viewers"] < r["channel_viewers_sum"] for r in top.to_pylist())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["channels"] == len(channels)
    assert summary["counts"]["edges"] == edges.num_rows
    assert summary["algorithm"] == "leiden"
    assert summary["parameters"]["resolution"] == 1.0
    assert summary["bots"]["removed"] >= 5
    assert {"read", "overlap", "communities", "total"} <= set(summary["timings"])
    assert 0 < summary["modularity"] <= 1
    # A copy of the run sits in the lake.
    copies = Lake.open(str(synth_lake)).list_files("analysis")
    assert f"analysis/{summary['run_id']}/summary.json" in copies
    assert f"analysis/{summary['run_id']}/nodes.parquet" in copies


def test_flags_reach_the_analysis(
    synth_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["analyze", "--lake", str(synth_lake), "--out", str(out), "--algorithm", "louvain",
            "--resolution", "1.5", "--seed", "9", "--since", "2026-01-05T02:00:00Z",
            "--until", "2026-01-05T20:00:00Z"]  # fmt: skip
    assert run(argv, capsys)[0] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == "louvain"
    assert summary["parameters"]["seed"] == 9
    assert summary["parameters"]["resolution"] == 1.5
    assert summary["window"]["since"] >= "2026-01-05T02:00:00"
    assert summary["window"]["until"] < "2026-01-05T20:00:00"


def test_same_seed_same_outputs(
    synth_lake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Maps start from the newest run's positions by default; the seed alone decides here.
    monkeypatch.setenv("VIEWERATLAS_ANALYSIS__LAYOUT_FROM_PREVIOUS", "false")
    for name in ("a", "b"):
        assert (
            run(["analyze", "--lake", str(synth_lake), "--out", str(tmp_path / name)], capsys)[0]
            == 0
        )
    a = pq.read_table(tmp_path / "a" / "nodes.parquet")
    b = pq.read_table(tmp_path / "b" / "nodes.parquet")
    assert a.equals(b)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["analyze", "--since", "yesterday"], "analysis.since"),
        (["analyze", "--resolution", "-1"], "analysis.resolution"),
        (["analyze", "--preset", "turbo"], "unknown preset"),
        (["analyze"], "no presence rows"),
        (["sql", "SELEC 1"], "sql:"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    out = tmp_path / "out"
    code, _, err = run(
        [*argv, "--lake", str(lake)] + (["--out", str(out)] if argv[0] == "analyze" else []), capsys
    )
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert not out.exists()
    assert snapshot(lake) == {}


def test_sql_over_presence_and_channels(
    synth_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = (
        "SELECT c.language, count(DISTINCT p.user) AS viewers FROM presence p "
        "JOIN channels c USING (channel) GROUP BY 1 ORDER BY 2 DESC"
    )
    code, out, _ = run(["sql", "--lake", str(synth_lake), query, "--format", "csv"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == '"language","viewers"'
    assert len(lines) > 2


def test_config_shows_resolved_settings_without_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWITCH_CLIENT_SECRET", "hunter2")
    code, out, _ = run(["config", "--preset", "explorer"], capsys)
    assert code == 0
    assert "resolution: 2.0" in out
    assert "hunter2" not in out


@pytest.mark.slow
def test_demo_runs_as_a_module_in_a_fresh_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIEWERATLAS_", "TWITCH_"))}
    done = subprocess.run(
        [sys.executable, "-m", "vieweratlas", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "NMI vs planted truth 1.000" in done.stdout.replace("\n", " ")
    assert (tmp_path / "demo" / "atlas.html").exists()
    assert (tmp_path / "demo" / "lake" / "synthetic" / "truth.csv").exists()


def test_analyze_emits_a_cloudwatch_metric_line_on_aws(
    synth_lake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "Local")
    code, out, _ = run(["analyze", "--lake", str(synth_lake), "--out", str(tmp_path / "r")], capsys)
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines() if x.startswith('{"')]
    (emf,) = [x for x in lines if x.get("Job") == "analysis"]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert emf["CommunitiesFound"] == summary["counts"]["communities"]
    assert emf["Failed"] == 0
    assert emf["RunDuration"] > 0
