"""``vieweratlas lake check``: the container healthcheck, on a folder and on S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import run_cli as _run
from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake
from vieweratlas.lake.health import check_lake


def test_reachable_ok_on_fresh_lake(lake_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_lake(Lake.open(lake_url)).startswith("ok")
    assert _run(["lake", "check", "--reachable", "--lake", lake_url]) == 0
    assert "ok" in capsys.readouterr().out


def test_report_says_a_fresh_lake_is_missing_or_empty(
    lake_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(["lake", "check", "--lake", lake_url])
    out, err = capsys.readouterr()
    if lake_url.startswith("s3://"):  # a prefix without objects: empty, not missing
        assert code == 0
        assert "is empty" in out
    else:
        assert code == 2
        assert err == f"error: lake {lake_url} does not exist\n"
        assert "ok" not in out


def test_check_fails_on_file_as_lake(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(LakeError, match="not a folder"):
        check_lake(Lake.open(str(f / "lake")))


@pytest.mark.server
def test_check_fails_on_missing_bucket(s3_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["lake", "check", "--lake", "s3://no-such-bucket-xyz/lake"]) == 2
    assert "no-such-bucket-xyz" in capsys.readouterr().err


def test_check_names_a_truncated_parquet_file(
    lake_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lakedata import ROWS, presence

    lake = Lake.open(lake_url)
    lake.write("presence", presence(ROWS))
    assert _run(["lake", "check", "--lake", lake_url, "--deep"]) == 0
    assert "2 data file(s) checked" in " ".join(capsys.readouterr().out.split())
    victim = lake.list_files("curated/presence")[0]
    data = lake.read_bytes(victim)
    lake.delete(victim)
    lake.write_bytes(victim, data[: len(data) // 2])
    assert _run(["lake", "check", "--lake", lake_url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and victim in err and "damaged" in err
    assert _run(["lake", "check", "--quick", "--lake", lake_url]) == 0  # the healthcheck
    # Readers give a one-line error too, instead of a traceback.
    with pytest.raises(LakeError, match="cannot read presence"):
        lake.read("presence")
