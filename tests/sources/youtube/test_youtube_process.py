"""`vieweratlas collect youtube` as a process: SIGTERM flushes the open window, exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from youtube_fake import Stream, text_action, uc, youtube

from vieweratlas.lake import Lake

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_sigterm_flushes_the_open_window(tmp_path: Path) -> None:
    channels = tmp_path / "yt.txt"
    channels.write_text("@alpha\nnot a channel\n")
    log = tmp_path / "yt.log"
    with youtube() as yt:
        s = yt.add(Stream("vidAAAAAAAA", uc(1)), "@alpha")
        stamp = int(datetime.now(UTC).timestamp() * 1e6)
        yt.say(s.video_id, text_action(uc(7), stamp), text_action(uc(8), stamp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWERATLAS_")}
        env["VIEWERATLAS_YOUTUBE__MIN_POLL"] = "0.05s"
        cmd = [sys.executable, "-m", "vieweratlas", "collect", "youtube", "--lake",
               str(tmp_path / "lake"), "--channels-file", str(channels), "--base-url", yt.url,
               "--interval", "1d"]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while yt.served < 2 or yt.polls < 2:  # served, and the next poll began after
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    rows = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    assert sorted(r["user"] for r in rows) == [uc(7), uc(8)]
    assert "not a youtube channel name" in log.read_text()
