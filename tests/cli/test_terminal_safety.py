"""Untrusted text reaches the terminal inert: hostile channel names, games and titles go
through every command that prints data, and no control byte or markup effect comes out."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from test_checks import planted_presence, run

from vieweratlas.cli import output
from vieweratlas.lake import Lake
from vieweratlas.textsafe import cell_safe, terminal_safe

HOSTILE = [
    "\x1b]0;pwned\x07title",  # OSC: set the window title
    "\x1b[2Jclear",  # CSI: clear the screen
    "[bold red]loud[/bold red]",  # Rich markup
    "[link=https://evil.example]click[/link]",  # a hidden OSC 8 hyperlink via markup
    "bell\x07ring",
    "c1\x9b31mred",  # C1 CSI
    "cr\roverwrite",
    "osc8\x1b]8;;https://evil.example\x1b\\x\x1b]8;;\x1b\\",
]
# Bytes that make a terminal act: ESC, BEL, CR, C1 controls (as UTF-8 code points).
ACTIVE = re.compile("[\x1b\x07\r\x80-\x9f]")


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three planted communities; the first one's channels (all but g0c0), games and titles
    are hostile."""
    root = tmp_path_factory.mktemp("hostile") / "lake"
    presence = planted_presence(groups=3, size=len(HOSTILE) + 1)
    names = {f"g0c{i + 1}": h for i, h in enumerate(HOSTILE)}
    channel = [names.get(c, c) for c in presence["channel"].to_pylist()]
    presence = presence.set_column(1, "channel", pa.array(channel))
    lake = Lake.open(str(root))
    lake.write("presence", presence)
    all_channels = sorted(set(channel))
    n = len(all_channels)
    lake.write(
        "channels",
        pa.table(
            {
                "ts": pa.array(
                    [datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=1)] * n,
                    pa.timestamp("us", tz="UTC"),
                ),
                "channel": all_channels,
                "channel_id": [str(i) for i in range(n)],
                "display_name": all_channels,
                "game": [HOSTILE[i % len(HOSTILE)] for i in range(n)],
                "language": ["\x1b[5men"] * n,
                "viewers": pa.array([10] * n, pa.int64()),
                "title": [HOSTILE[-1 - i % len(HOSTILE)] for i in range(n)],
                "platform": ["twitch"] * n,
            }
        ),
    )
    return root


def inert(text: str) -> None:
    assert not ACTIVE.search(text), repr(ACTIVE.search(text))


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_sql_prints_hostile_values_inert(hostile_lake: Path, fmt: str) -> None:
    query = "SELECT c.channel, c.game, c.title, c.language FROM channels c ORDER BY 1"
    code, out, err = run(["sql", "--lake", str(hostile_lake), query, "--format", fmt])
    assert code == 0, err
    inert(out + err)
    if fmt in ("table", "csv"):
        assert "[bold red]loud[/bold red]" in out  # markup shown as text, not applied
        assert "\\x1b]0;pwned\\x07title" in out  # controls shown, visibly


def test_sql_on_a_terminal_shows_markup_as_text(
    hostile_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, color_system=None, width=400)
    monkeypatch.setattr(output, "console", terminal)
    code, _, err = run(["sql", "--lake", str(hostile_lake), "SELECT channel, game FROM channels"])
    assert code == 0, err
    shown = buffer.getvalue()
    inert(shown)
    assert "[link=https://evil.example]click[/link]" in shown
    assert "[bold red]loud[/bold red]" in shown


def test_analyze_lake_check_and_runs_print_hostile_names_inert(
    hostile_lake: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        [
            "analyze",
            "--lake",
            str(hostile_lake),
            "--out",
            str(tmp_path / "o"),
            "--no-render",
            "--min-community-size",
            "2",
        ]
    )
    assert code == 0, err
    inert(out + err)
    assert "\\x1b" in out  # the hostile channels and games are there, made visible
    for argv in (["lake", "check"], ["runs"]):
        code, out, err = run([*argv, "--lake", str(hostile_lake)])
        assert code == 0, err
        inert(out + err)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_similar_prints_hostile_names_inert(hostile_lake: Path, fmt: str) -> None:
    code, out, err = run(["similar", "g0c0", "--lake", str(hostile_lake), "--format", fmt])
    assert code == 0, err
    inert(out + err)
    assert "pwned" in out  # the hostile neighbours are listed


def test_error_messages_are_inert(tmp_path: Path) -> None:
    hostile = tmp_path / "lake\x1b]0;pwned\x07"
    code, out, err = run(["sql", "--lake", str(hostile), "SELECT 1"])
    assert code == 2
    inert(out + err)
    assert "\\x1b]0;pwned\\x07" in err


@given(st.text())
def test_terminal_safe_leaves_no_control_but_tab_and_newline(text: str) -> None:
    safe = terminal_safe(text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", safe)
    assert safe.count("\n") == text.count("\n") and safe.count("\t") == text.count("\t")
    cell = cell_safe(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f]", cell)
    if not re.search("[\x00-\x1f\x7f-\x9f]", text):
        assert safe == text == cell  # ordinary text is untouched
