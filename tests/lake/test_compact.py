"""``lake compact``: overlapping and small files merged, every key once, readers never see a
partition with rows missing (on a folder and on S3)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from lakedata import T0, presence

from testkit import run_cli
from vieweratlas.lake import Lake, txn
from vieweratlas.lake.compact import compact

KEY = ["ts", "channel", "user"]


def windows(n: int, users: int, tag: str = "u") -> list[tuple[object, str, str]]:
    return [
        (T0 - timedelta(hours=3) + timedelta(minutes=10 * w), "alpha", f"{tag}{i}")
        for w in range(n)
        for i in range(users)
    ]


def snapshot(lake: Lake) -> list[tuple[object, ...]]:
    t = lake.read("presence", columns=KEY)
    return sorted(zip(*(t.column(k).to_pylist() for k in KEY), strict=True))


def test_compact_merges_and_keeps_every_key_once(lake: Lake) -> None:
    rows = windows(6, 50)
    for w in range(6):  # a collector: one window per write
        lake.write("presence", presence(rows[w * 50 : (w + 1) * 50]))
    lake.write("presence", presence(windows(6, 60)))  # an overlapping import
    before = snapshot(lake)
    assert len(before) == 6 * 60
    assert len(lake.list_files("curated/presence")) == 7
    done = compact(lake)
    assert [(c.files_before, c.files_after) for c in done] == [(7, 1)]
    assert snapshot(lake) == before
    assert len(lake.list_files("curated/presence")) == 1
    assert compact(lake) == []  # nothing left to do
    assert [f for f in lake.list_all("") if f.startswith(("_txn", "_staging"))] == []


def test_compaction_killed_between_publish_and_retire_is_completed(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write("presence", presence(windows(3, 20, "a")))
    lake.write("presence", presence(windows(3, 20, "b")))
    before = snapshot(lake)
    real = lake.delete

    def no_delete(rel: str) -> None:
        if rel.startswith("curated/"):
            raise OSError("killed")
        real(rel)

    monkeypatch.setattr(lake, "delete", no_delete)
    with pytest.raises(OSError, match="killed"):
        compact(lake)
    assert snapshot(lake) == before  # old and new files both visible: still each key once
    monkeypatch.setattr(lake, "delete", real)
    assert txn.recover(lake) == 1
    assert snapshot(lake) == before
    assert len(lake.list_files("curated/presence")) == 1


READER = r"""
import sys
from vieweratlas.lake import Lake
lake = Lake.open(sys.argv[1])
expected = int(sys.argv[2])
reads = 0
while True:
    t = lake.read("presence", columns=["ts", "channel", "user"])
    keys = set(zip(*(t.column(k).to_pylist() for k in ("ts", "channel", "user"))))
    assert t.num_rows == len(keys) == expected, (t.num_rows, len(keys))
    reads += 1
    if sys.stdin.readline().strip() == "stop":
        print(reads, flush=True)
        break
"""


def test_reader_during_compaction_sees_consistent_data(lake_url: str, tmp_path: Path) -> None:
    lake = Lake.open(lake_url)
    for part in range(4):
        lake.write("presence", presence(windows(12, 40, f"p{part}-")[::2]))
        lake.write("presence", presence(windows(12, 40, f"p{part}-")[1::2]))
    expected = len(snapshot(lake))
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, lake_url, str(expected)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert reader.stdin is not None
    reader.stdin.write("go\n")  # one read before compaction starts …
    reader.stdin.flush()
    done = compact(lake)
    reader.stdin.write("go\n" * 2 + "stop\n")  # … and reads during/after it
    reader.stdin.flush()
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    assert int(out) >= 3
    assert done and len(snapshot(lake)) == expected


def test_cli_compact(lake_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    lake = Lake.open(lake_url)
    lake.write("presence", presence(windows(2, 5, "a")))
    lake.write("presence", presence(windows(2, 5, "b")))
    assert run_cli(["lake", "compact", "--lake", lake_url]) == 0
    assert "compacted 1 partition(s): 2 file(s) → 1" in capsys.readouterr().out
    assert run_cli(["lake", "compact", "--lake", lake_url, "--table", "nope"]) == 2
