"""Commits across partitions: nothing visible before the commit point, completed after it;
bad times refused before anything is staged; leftovers of killed writers swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakedata import ROWS, T0, presence

from vieweratlas.errors import InputError, LakeError
from vieweratlas.ingest import import_presence
from vieweratlas.lake import Lake, txn
from vieweratlas.lake.schema import TS
from vieweratlas.lake.writer import STAGE_PREFIX, sweep_temp


def days(n: int) -> list[tuple[datetime, str, str]]:
    return [(T0 + timedelta(days=d), "alpha", f"user{d}") for d in range(n)]


def test_crash_after_commit_point_is_completed_by_next_write(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = txn._publish
    calls = 0

    def dies_on_second(*args: object) -> tuple[str, bool]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("killed")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(txn, "_publish", dies_on_second)
    with pytest.raises(OSError, match="killed"):
        lake.write("presence", presence(days(4)))
    monkeypatch.setattr(txn, "_publish", real)
    assert len(txn.pending(lake)) == 1  # the record survives the crash …
    lake.write("presence", presence([(T0, "beta", "other")]))  # … and the next write completes it
    assert txn.pending(lake) == []
    assert lake.read("presence").num_rows == 5
    assert [f for f in lake.list_all("") if f.startswith(("_txn", "_staging"))] == []


def test_crash_before_commit_point_leaves_nothing(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write("presence", presence(ROWS))
    before = lake.list_all("")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("vieweratlas.lake.writer.write_record", boom)
    with pytest.raises(OSError, match="disk full"):
        lake.write("presence", presence(days(3)))
    assert lake.list_all("") == before  # no new data file, no record, no staging


@pytest.mark.parametrize(
    "bad",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1653, 5, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(2101, 1, 1, tzinfo=UTC),
    ],
)
def test_times_outside_the_window_are_refused_before_staging(lake: Lake, bad: datetime) -> None:
    rows = [*days(3), (bad, "alpha", "x")]
    with pytest.raises(LakeError, match=rf"row 4: field 'ts': time in year {bad.year} is outside"):
        lake.write("presence", presence(rows))
    assert lake.list_all("") == []


def test_year_3000_in_a_parquet_import_is_one_line_and_nothing_changes(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence(ROWS))
    before = lake.list_all("")
    micros = datetime(3000, 1, 1, tzinfo=UTC).timestamp() * 1e6
    ts = pa.array([int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6), int(micros)])
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"ts": ts.cast(TS), "channel": ["a", "b"], "user": ["u", "v"]}), src)
    with pytest.raises((LakeError, InputError), match=r"p\.parquet\S* ?(row )?2: field 'ts'"):
        import_presence(lake, [src])
    assert lake.list_all("") == before


def test_interactions_step_that_wraps_int64_is_refused(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    src = tmp_path / "full_a.csv"
    src.write_text("1,11,alpha,0,3\n2,12,beta,10000000000000000,10000000000000001\n")
    with pytest.raises(InputError, match=r"full_a\.csv:2: field 'start'"):
        import_presence(lake, [src], fmt="interactions")
    assert lake.list_all("") == []


STAGER = r"""
import sys
import pyarrow as pa
from vieweratlas.lake import Lake, PRESENCE, Stage
from vieweratlas.lake import txn
sys.path.insert(0, sys.argv[2])
from lakedata import presence, ROWS
lake = Lake.open(sys.argv[1])
stage = Stage(PRESENCE)
stage.append(presence(ROWS))
with txn.owned_staging(lake, txn.new_txid()):
    print("staged", flush=True)
    sys.stdin.read()  # wait here until killed
"""


def test_kill_9_leftovers_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    lake_dir = tmp_path / "lake"
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGER, str(lake_dir), str(Path(__file__).parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp)},
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "staged"
    lake = Lake.open(str(lake_dir))
    assert len(list(tmp.glob(f"{STAGE_PREFIX}*"))) == 1
    # While the writer lives, nothing of it is touched.
    assert sweep_temp(str(tmp)) == 0
    assert txn.recover(lake) == 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert sweep_temp(str(tmp)) == 1
    assert list(tmp.glob(f"{STAGE_PREFIX}*")) == []
    assert txn.recover(lake) == 1
    assert not any(p.is_dir() for p in (lake_dir / "_staging").iterdir())
    # Stage() sweeps by itself too (the temp folder of this process).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    dead = tmp / f"{STAGE_PREFIX}old"
    dead.mkdir()
    os.utime(dead, (time.time() - 3600, time.time() - 3600))
    lake.write("presence", presence(ROWS))
    assert not dead.exists()
