"""``discover`` prints stream titles, games and names from any streamer: inert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helix_server import FakeTwitch, running

from vieweratlas.cli import main

pytestmark = pytest.mark.server

HOSTILE_TITLE = "\x1b]0;pwned\x07 [bold]big[/bold] \x1b[2J\x9b31m"


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    yield from running()


def test_discover_prints_hostile_titles_and_games_inert(
    fake: FakeTwitch,
    lake_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.add_streams(5)
    for stream in fake.streams:
        stream["title"] = HOSTILE_TITLE
        stream["game_name"] = "\x1b[31mred game\x07"
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        main(["discover", "--top", "5", "--lake", str(lake_dir)])
    assert info.value.code in (0, None)
    out, err = capsys.readouterr()
    assert not re.search("[\x1b\x07\x80-\x9f]", out + err)
    assert "[bold]big[/bold]" in out  # markup shown as text
    assert "\\x1b[31mred game\\x07" in out  # controls shown visibly
