"""A staging folder being created is never swept by another writer's sweep of the temp folder.

The sweep removes ``vieweratlas-stage-*`` folders whose lock is free. A writer used to create
its folder, then its lock file, then take the lock: a sweep in between found the lock file
free, removed the folder, and the writer failed on ``rows.arrow`` (FileNotFoundError).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

import pytest
from lakedata import ROWS, presence

from vieweratlas.lake import PRESENCE, Lake, Stage
from vieweratlas.lake.writer import NEW_STAGE_PREFIX, STAGE_PREFIX, sweep_temp


def test_a_sweep_while_a_stage_takes_its_lock_leaves_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    lake = Lake.open(str(tmp_path / "lake"))
    real_flock = fcntl.flock
    sweeps: list[int] = []

    def flock(fd: int, op: int) -> None:
        # The moment the race needs: a writer's lock file exists, its lock is not taken yet.
        # Another writer sweeps the temp folder right then (flock locks belong to open file
        # descriptions, so an in-process sweep probes them as another process would).
        if op == fcntl.LOCK_EX and not sweeps:
            sweeps.append(sweep_temp(str(tmp)))
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    result = lake.write("presence", presence(ROWS))
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert sweeps == [0]  # the sweep ran at that moment and removed nothing
    assert result.rows_written == len(ROWS)
    assert len(lake.read("presence")) == len(ROWS)
    assert list(tmp.iterdir()) == []  # the writer cleaned up after itself


def test_folders_of_writers_killed_while_creating_are_swept_once_old(tmp_path: Path) -> None:
    old = tmp_path / f"{NEW_STAGE_PREFIX}old"
    fresh = tmp_path / f"{NEW_STAGE_PREFIX}fresh"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / ".owner.lock").touch()
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert sweep_temp(str(tmp_path)) == 1
    assert not old.exists() and fresh.exists()


def test_a_live_stage_is_published_with_its_lock_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a Stage lives, its folder is under the swept prefix and a sweep keeps it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with Stage(PRESENCE) as stage:
        stage.append(presence(ROWS))
        (folder,) = tmp_path.iterdir()
        assert folder.name.startswith(STAGE_PREFIX)
        assert sweep_temp(str(tmp_path)) == 0
        assert folder.exists()
    assert list(tmp_path.iterdir()) == []
