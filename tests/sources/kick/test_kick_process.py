"""`vieweratlas collect kick` as a process: SIGKILL loses at most the open window, a restart
refuses the deliveries it already stored (and accepts the lost ones again), SIGTERM flushes
the open window and exits 0, and no secret reaches the log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kick_fake import WebhookSender, chat_body, new_key, public_pem

from testkit import wait_until
from vieweratlas.lake import Lake
from vieweratlas.sources.kick.collector import seen_state

pytestmark = [pytest.mark.server, pytest.mark.slow]

SECRET = "kicksecretVALUE42"


@contextmanager
def receiver(
    lake_dir: Path, channels: Path, pem: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWERATLAS_")}
    env.update(VIEWERATLAS_LOG_LEVEL="INFO", VIEWERATLAS_KICK__PUBLIC_KEY=pem,
               VIEWERATLAS_KICK__CLIENT_SECRET=SECRET,
               VIEWERATLAS_KICK__API_URL="http://127.0.0.1:9")  # fmt: skip
    cmd = [sys.executable, "-m", "vieweratlas", "collect", "kick", "--lake", str(lake_dir),
           "--channels-file", str(channels), "--port", "0", "--interval", "1s"]  # fmt: skip
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        found: list[str] = []

        def listening() -> bool:
            text = log.read_bytes()[start:].decode(errors="replace")
            found[:] = re.findall(r"listening on (http://\S+)", text)
            assert proc.poll() is None, text
            return bool(found)

        wait_until(listening, timeout=60)
        yield proc, found[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def keys(lake: Lake) -> list[tuple[object, str, str]]:
    rows = lake.read("presence", columns=["ts", "channel", "user"]).to_pylist()
    return [(r["ts"], r["channel"], r["user"]) for r in rows]


def parquet_files(lake_dir: Path) -> list[Path]:
    """Published Parquet files (not staged or temporary ones). ``os.walk`` skips a folder the
    running receiver removes while we look, where ``rglob`` would raise."""
    found = []
    for folder, dirs, files in os.walk(lake_dir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        found += [Path(folder, n) for n in files if n.endswith(".parquet") and n[0] != "."]
    return found


def test_kill_restart_and_sigterm(tmp_path: Path) -> None:
    key = new_key()
    pem = public_pem(key)
    lake_dir = tmp_path / "lake"
    channels = tmp_path / "kick.txt"
    channels.write_text("alpha\nbeta\n")
    log = tmp_path / "kick.log"
    sent: list[str] = []

    def deliver(sender: WebhookSender, user: str, mid: str) -> int:
        now = datetime.now(UTC)
        return sender.deliver(
            chat_body("alpha", user, sent=now), at=now, message_id=mid
        ).status_code

    with receiver(lake_dir, channels, pem, log) as (proc, url):
        sender = WebhookSender(url, key)
        i = 0

        def flushed() -> bool:
            nonlocal i
            i += 1
            assert deliver(sender, f"user{i}", f"M{i}") == 204
            sent.append(f"M{i}")
            return bool(parquet_files(lake_dir)) and bool(seen_state(Lake.open(str(lake_dir))))

        wait_until(flushed, timeout=30, every=0.02)
        assert deliver(sender, "inflight", "INFLIGHT") == 204
        sent.append("INFLIGHT")
        sender.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    for path in parquet_files(lake_dir):
        pq.read_table(path)  # nothing half-written is visible
    lake = Lake.open(str(lake_dir))
    first = keys(lake)
    assert first and len(first) == len(set(first))
    stored = set(seen_state(lake))
    assert stored and stored < set(sent)

    with receiver(lake_dir, channels, pem, log) as (proc, url):
        sender = WebhookSender(url, key)
        for mid in sent:  # Kick redelivering everything it is unsure about
            status = deliver(sender, "retry" + mid.lower(), mid)
            assert status == (400 if mid in stored else 204), mid
        assert deliver(sender, "lastword", "LAST") == 204
        sender.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    final = keys(lake)
    assert len(final) == len(set(final))
    assert set(first) <= set(final)
    users = {u for _, _, u in final}
    assert "lastword" in users
    # every delivery refused on restart was already stored under its first sender name
    assert not any(u == "retry" + m.lower() for m in stored for u in users)
    text = log.read_text()
    assert "window" in text and SECRET not in text


def test_pusher_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    from kick_fake import PusherFake, kick_api

    channels = tmp_path / "kick.txt"
    channels.write_text("alpha\n")
    log = tmp_path / "pusher.log"
    pusher = PusherFake().start()
    try:
        with kick_api("unused", channels={"alpha": 1}) as api:
            env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWERATLAS_")}
            env.update(VIEWERATLAS_KICK__PUSHER_URL=pusher.url, VIEWERATLAS_KICK__WEB_URL=api.url)
            cmd = [sys.executable, "-m", "vieweratlas", "collect", "kick", "--transport",
                   "pusher", "--lake", str(tmp_path / "lake"), "--channels-file",
                   str(channels), "--interval", "1d"]  # fmt: skip
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                room = api.chatrooms["alpha"]
                wait_until(lambda: pusher.subscribed(room), timeout=60)
                pusher.chat(room, "ann", user_id=1)
                pusher.chat(room, "ben", user_id=2)
                pusher.ping()  # answered after the chat frames: they have been read
                wait_until(
                    lambda: sum(f.get("event") == "pusher:pong" for f in pusher.frames_in) >= 1
                )
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0, log.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
    finally:
        pusher.stop()
    rows = Lake.open(str(tmp_path / "lake")).read("presence").to_pylist()
    assert sorted((r["user"], r["source"]) for r in rows) == [("ann", "pusher"), ("ben", "pusher")]
