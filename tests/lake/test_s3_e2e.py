"""End to end on S3: ``synth`` → ``analyze`` → ``sql`` with ``--lake s3://…`` against the moto
server, and the same results as on a local folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from lakedata import bucket_keys

from testkit import run_cli as _run

pytestmark = [pytest.mark.server, pytest.mark.slow]

SYNTH = ["--channels", "30", "--viewers", "3000", "--communities", "3", "--seed", "7"]


def _pipeline(lake: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert _run(["synth", "--lake", lake, *SYNTH]) == 0
    assert _run(["analyze", "--lake", lake, "--out", str(out)]) == 0
    capsys.readouterr()
    query = "SELECT channel, count(DISTINCT user) AS n FROM presence GROUP BY 1 ORDER BY 1"
    assert _run(["sql", "--lake", lake, "--format", "csv", query]) == 0
    sql_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    summary = json.loads((out / "summary.json").read_text())
    communities = sorted(
        (r["community"], r["size"]) for r in csv.DictReader((out / "communities.csv").open())
    )
    nodes = sorted(
        (r["channel"], r["community"]) for r in csv.DictReader((out / "nodes.csv").open())
    )
    return {"sql": sql_rows, "summary": summary, "communities": communities, "nodes": nodes}


def test_synth_analyze_sql_on_s3_match_local(
    s3_bucket: str, s3_client: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _pipeline(f"s3://{s3_bucket}/atlas", tmp_path / "out-s3", capsys)
    local = _pipeline(str(tmp_path / "lake"), tmp_path / "out-local", capsys)

    assert len(s3["sql"]) == 30  # type: ignore[arg-type]
    assert s3["sql"] == local["sql"]
    assert s3["nodes"] == local["nodes"]
    assert s3["communities"] == local["communities"]
    assert len(s3["communities"]) >= 2  # type: ignore[arg-type]

    keys = bucket_keys(s3_client, s3_bucket)
    presence = [k for k in keys if k.startswith("atlas/curated/presence/platform=twitch/date=")]
    assert presence and all(k.endswith(".parquet") for k in presence)
    runs = {k.split("/")[2] for k in keys if k.startswith("atlas/analysis/")}
    assert len(runs) == 1
    (run,) = runs
    assert f"atlas/analysis/{run}/summary.json" in keys
    assert not any(k.endswith("/") for k in keys)  # no directory markers
    assert all(size > 0 for size in keys.values())

    # Re-running synth on S3 adds nothing (deterministic keys, de-duplication).
    before = set(keys)
    assert _run(["synth", "--lake", f"s3://{s3_bucket}/atlas", *SYNTH]) == 0
    assert set(bucket_keys(s3_client, s3_bucket)) == before
