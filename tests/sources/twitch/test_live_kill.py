"""`vieweratlas collect live` as a process: SIGKILL loses only the open window, SIGTERM
flushes it, restarts never duplicate rows, and the OAuth token never reaches the logs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from twitch_server import TwitchServer, joined_all

from testkit import wait_until
from vieweratlas.lake import Lake

pytestmark = [pytest.mark.server, pytest.mark.slow]

SECRET = "kill9secretTOKEN77"


@contextmanager
def collector_process(
    lake_dir: Path, channels: Path, url: str, interval: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIEWERATLAS_", "TWITCH_"))}
    env.update(
        VIEWERATLAS_LOG_LEVEL="DEBUG",
        VIEWERATLAS_TWITCH__OAUTH_TOKEN=SECRET,
        VIEWERATLAS_TWITCH__LOGIN="atlasbot",
    )
    cmd = [sys.executable, "-m", "vieweratlas", "collect", "live", "--lake", str(lake_dir),
           "--channels-file", str(channels), "--irc-url", url, "--interval", interval]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def visible_files(lake_dir: Path) -> dict[str, str]:
    """Every file a reader could see (no dot/underscore path parts) → sha256. Walked with
    ``os.walk``, which skips folders the running collector removes while we look."""
    out = {}
    for folder, dirs, files in os.walk(lake_dir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            if not name.startswith((".", "_")):
                path = Path(folder, name)
                out[str(path.relative_to(lake_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def temp_files(lake_dir: Path) -> list[str]:
    """Temporary files anywhere in the lake, staging included (``os.walk``: a folder removed
    while we look is skipped, not an error)."""
    return [n for _, _, files in os.walk(lake_dir) for n in files if n.startswith(".tmp-")]


def settle(server: TwitchServer) -> None:
    """PING the collector and wait for its PONG: every earlier line has been handled."""
    before = sum(line.startswith("PONG") for line in server.lines)
    server.ping_all()
    server.wait_for(lambda: sum(line.startswith("PONG") for line in server.lines) > before)


def keys(lake: Lake) -> list[tuple[object, str, str]]:
    rows = lake.read("presence", columns=["ts", "channel", "user"]).to_pylist()
    return [(r["ts"], r["channel"], r["user"]) for r in rows]


def test_sigkill_loses_only_the_open_window_and_restart_adds_no_duplicates(
    twitch_server: Callable[..., TwitchServer], tmp_path: Path
) -> None:
    server = twitch_server()
    lake_dir = tmp_path / "lake"
    channels = tmp_path / "channels.txt"
    channels.write_text("# watched channels\nalpha\nBeta\nnot a channel!\n")
    log = tmp_path / "collector.log"

    with collector_process(lake_dir, channels, server.url, "1s", log) as proc:
        server.wait_for(joined_all(server, ["alpha", "beta"]), timeout=60)
        i = 0

        def flushed() -> bool:
            nonlocal i
            i += 1
            server.privmsg("alpha" if i % 2 else "beta", f"user{i}", user_id=str(i))
            return any(f.endswith(".parquet") for f in visible_files(lake_dir))

        wait_until(flushed, timeout=30, every=0.05)
        server.privmsg("alpha", "inflight")
        settle(server)
        # Best effort to kill *during* a write: watch for the writer's hidden temp file
        # (windows are 1 s, so a flush starts every second); give up after a few seconds.
        deadline = time.monotonic() + 5
        before = visible_files(lake_dir)
        while time.monotonic() < deadline and not temp_files(lake_dir):
            before = visible_files(lake_dir)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    after = visible_files(lake_dir)
    for rel, digest in before.items():
        assert after[rel] == digest  # closed windows untouched by the kill
    for rel in after:
        assert rel.endswith(".parquet"), rel  # nothing half-written is visible
        pq.read_table(lake_dir / rel)
    assert all(name.startswith(".") for name in temp_files(lake_dir))  # hidden if any left
    lake = Lake.open(str(lake_dir))
    first = keys(lake)
    assert first and len(first) == len(set(first))

    # Restart on the same lake; then SIGTERM flushes the open window before exit.
    server.clients.clear()
    with collector_process(lake_dir, channels, server.url, "1s", log) as proc:
        server.wait_for(joined_all(server, ["alpha", "beta"]), timeout=60)
        server.privmsg("beta", "lastword", user_id="999")
        settle(server)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    final = keys(lake)
    assert len(final) == len(set(final))
    assert set(first) <= set(final)
    assert "lastword" in {user for _, _, user in final}
    text = log.read_text()
    assert "not a twitch channel name" in text and "window" in text
    assert SECRET not in text


def test_sigterm_flush_and_restart_in_the_same_window_do_not_duplicate(
    twitch_server: Callable[..., TwitchServer], tmp_path: Path
) -> None:
    server = twitch_server()
    lake_dir = tmp_path / "lake"
    channels = tmp_path / "channels.txt"
    channels.write_text("alpha\n")
    log = tmp_path / "collector.log"
    for users in (["ann", "ben"], ["ben", "cat"]):
        server.clients.clear()
        with collector_process(lake_dir, channels, server.url, "1d", log) as proc:
            server.wait_for(joined_all(server, ["alpha"]), timeout=60)
            for user in users:
                server.privmsg("alpha", user)
            settle(server)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    rows = Lake.open(str(lake_dir)).read("presence").to_pylist()
    got = [(r["ts"], r["user"]) for r in rows]
    assert len(got) == len(set(got))
    assert sorted(u for _, u in got) == ["ann", "ben", "cat"]
