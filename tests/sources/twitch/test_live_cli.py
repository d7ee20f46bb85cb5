"""`vieweratlas collect live` in-process: options, errors, a short run to completion."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from twitch_server import TwitchServer, joined_all

from testkit import run_cli_output as run
from vieweratlas.config import load_settings
from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import FileChannelSource, channel_source


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top", "10"], "--top needs twitch.client_id and twitch.client_secret"),
        (["--top", "5", "--channels-file", "x.txt"], "either --channels-file or --top"),
        ([], "needs --channels-file F or --top N"),
        (["--channels-file", "C", "--irc-url", "http://x"], "twitch.irc_url"),
        (["--channels-file", "C", "--duration", "soon"], "--duration"),
        (["--channels-file", "C", "--interval", "0s"], "collect.interval"),
        (["--channels-file", "missing.txt"], "missing.txt: cannot read channel list"),
    ],
)
def test_bad_invocations_are_one_line_errors(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = tmp_path / "channels.txt"
    channels.write_text("alpha\n")
    extra = [str(channels) if x == "C" else x for x in extra]
    code, _, err = run(["collect", "live", "--lake", str(tmp_path / "lake"), *extra], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.server
def test_runs_until_ctrl_c_and_flushes_the_open_window(
    twitch_server: Callable[..., TwitchServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = twitch_server(members={"alpha": ["quiet_one"]})
    channels = tmp_path / "channels.txt"
    channels.write_text("alpha\n")
    lake_dir = tmp_path / "lake"

    def chat_then_interrupt() -> None:
        server.wait_for(joined_all(server, ["alpha"]))
        server.privmsg("alpha", "talker", user_id="5")
        before = sum(line.startswith("PONG") for line in server.lines)
        server.ping_all()  # its PONG proves the collector has handled the line above
        server.wait_for(lambda: sum(line.startswith("PONG") for line in server.lines) > before)
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=chat_then_interrupt, daemon=True)
    helper.start()
    code, out, _ = run(
        ["collect", "live", "--lake", str(lake_dir), "--channels-file", str(channels),
         "--irc-url", server.url, "--interval", "1h", "--duration", "2m"],
        capsys,
    )  # fmt: skip
    helper.join(5)
    assert code == 0
    assert "windows flushed" in out
    rows = Lake.open(str(lake_dir)).read("presence").to_pylist()
    assert {(r["user"], r["messages"]) for r in rows} == {("quiet_one", 0), ("talker", 1)}


def test_duration_ends_the_run(
    twitch_server: Callable[..., TwitchServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = twitch_server()
    channels = tmp_path / "channels.txt"
    channels.write_text("alpha\n")
    code, out, _ = run(
        ["collect", "live", "--lake", str(tmp_path / "lake"), "--channels-file", str(channels),
         "--irc-url", server.url, "--duration", "0.5s"],
        capsys,
    )  # fmt: skip
    assert code == 0 and "collected 0 messages" in out


def test_channel_file_validation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    path = tmp_path / "channels.txt"
    path.write_text(
        "# a comment\nShroud\n#xqc\n\nshroud\nbad name\n ok_one \n"
        "evil\r\nJOIN #x\n" + "y" * 26 + "\n"
    )
    caplog.set_level(logging.WARNING)
    got = asyncio.run(FileChannelSource(path).fetch())
    assert got == ["shroud", "xqc", "ok_one", "evil"]
    assert f"{path}:6: skipping 'bad name'" in caplog.text
    assert "JOIN #x" in caplog.text and f"{path}:10" in caplog.text


def test_top_uses_the_helix_seam() -> None:
    settings = load_settings(
        overrides={"twitch": {"client_id": "id", "client_secret": "secret"}}, environ={}
    )
    source = channel_source(settings, top=3)
    assert hasattr(source, "fetch")
    settings = load_settings(overrides={"collect": {"channels_file": "c.txt"}}, environ={})
    assert isinstance(channel_source(settings), FileChannelSource)


def test_the_collector_and_vod_read_channel_lists_alike(tmp_path: Path) -> None:
    """One parser: the same file gives the same channels to `collect live` and `collect vod`."""
    import asyncio

    from vieweratlas.sources.twitch.helix import read_channels_file

    path = tmp_path / "channels.txt"
    path.write_text("alpha # the first\n#beta\n# comment\ngamma #\nJOIN #x\ndelta\t# tab note\n")
    live = asyncio.run(FileChannelSource(path).fetch())
    assert live == read_channels_file(path) == ["alpha", "beta", "gamma", "delta"]
