"""A writer killed with SIGKILL mid-write leaves no file that readers see half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from vieweratlas.lake import Lake

WRITER = """
import sys
from vieweratlas.lake import Lake
from vieweratlas.synth import SynthSpec, generate
data = generate(SynthSpec(channels=400, viewers=120_000, seed=int(sys.argv[2])))
Lake.open(sys.argv[1]).write("presence", data.presence)
print("done", flush=True)
"""


def start_writer(lake: Path, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(lake), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_temp_file(lake: Path, proc: subprocess.Popen[str], deadline: float) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(p.name.startswith(".tmp-") or p.parent.name == "_staging"
                   for p in lake.rglob("*")):  # fmt: skip
                return True
        except FileNotFoundError:  # a staging folder went away while listing: look again
            continue
        time.sleep(0.002)  # polling a condition, not timing the test
    return False


def test_kill_during_write_then_rewrite_completes_without_duplicates(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    proc = start_writer(lake_dir, seed=1)
    caught = wait_for_temp_file(lake_dir, proc, time.monotonic() + 120)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert caught, "the writer finished before a temp file could be seen"

    lake = Lake.open(str(lake_dir))
    # Readers see only complete files: every visible Parquet file opens and reads fully.
    for rel in lake.list_files("curated", suffix=".parquet"):
        pq.read_table(lake_dir / rel)
    before = lake.read("presence").num_rows

    proc = start_writer(lake_dir, seed=1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    table = lake.read("presence", columns=["ts", "channel", "user"])
    assert table.num_rows >= before
    keys = table.group_by(["ts", "channel", "user"]).aggregate([([], "count_all")])
    assert keys.num_rows == table.num_rows  # no duplicate keys after the crash and retry
    # Leftover temp files of the killed writer are hidden from readers.
    assert all(not Path(f).name.startswith(".") for f in lake.list_files("curated"))
