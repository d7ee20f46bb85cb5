"""`collect kick` / `collect youtube` refuse bad invocations with one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["collect", "kick", "--top", "5"], "needs kick.client_id"),
        (["collect", "kick"], "--channels-file F or --top N"),
        (["collect", "kick", "--top", "5", "--channels-file", "x.txt"], "one of them"),
        (["collect", "kick", "--top", "5", "--transport", "carrier-pigeon"], "kick.transport"),
        (["collect", "youtube"], "--channels-file F or --video ID"),
        (["collect", "youtube", "--video", "no!"], "not a YouTube video id"),
        (["collect", "youtube", "--video", "vidAAAAAAAA", "--method", "api"], "youtube.api_key"),
        (["collect", "youtube", "--video", "vidAAAAAAAA", "--method", "web"], "youtube.method"),
    ],
)
def test_bad_invocations_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli([*args, "--lake", str(tmp_path / "lake")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "lake").exists()
