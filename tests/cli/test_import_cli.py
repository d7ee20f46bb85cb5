"""``vieweratlas import presence|channels`` end to end: summary, exit codes, lake untouched."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import run_cli as run
from vieweratlas.lake import Lake


def files_of(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    f = tmp_path / "presence.csv"
    f.write_text("ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-02T00:00:00Z,b,y\n")
    return f


def test_import_presence_prints_format_and_summary(
    tmp_path: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert run(["import", "presence", str(plain), "--lake", str(lake)]) == 0
    out = capsys.readouterr().out
    assert "format plain" in out
    assert "2 rows read, 2 new, 0 duplicates skipped, 2 file(s) written in 2 partition(s)" in out
    assert run(["import", "presence", str(plain), "--lake", str(lake)]) == 0
    assert "2 rows read, 0 new, 2 duplicates skipped, 0 file(s)" in capsys.readouterr().out
    assert Lake.open(str(lake)).read("presence").num_rows == 2


def test_import_chat_formats_with_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    chat = tmp_path / "replay.json.gz"
    messages = [{"time_in_seconds": 5, "timestamp": 1_700_000_005_000_000, "author": {"name": "u"}}]
    chat.write_bytes(gzip.compress(json.dumps(messages).encode()))
    code = run(
        [
            "import",
            "presence",
            str(chat),
            "--lake",
            str(lake),
            "--format",
            "chat-downloader",
            "--channel",
            "Streamer",
        ]
    )
    assert code == 0, capsys.readouterr().err
    inter = tmp_path / "inter.csv"
    inter.write_text("1,2,streamer,0,2\n")
    code = run(
        [
            "import",
            "presence",
            str(inter),
            "--lake",
            str(lake),
            "--base-time",
            "2021-06-01T00:00:00Z",
        ]
    )
    assert code == 0
    assert "format interactions" in capsys.readouterr().out
    table = Lake.open(str(lake)).sql("SELECT channel, count(*) AS n FROM presence GROUP BY 1")
    assert sorted(zip(table["channel"].to_pylist(), table["n"].to_pylist(), strict=True)) == [
        ("streamer", 3)
    ]


def test_import_channels_and_snapshot_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    f = tmp_path / "channels.csv"
    f.write_text("channel,game,language,viewers\nfoo,Chess,en,10\n")
    code = run(
        ["import", "channels", str(f), "--lake", str(lake), "--snapshot-time", "2024-04-01T10:00"]
    )
    assert code == 0
    assert "channels: 1 rows read, 1 new" in capsys.readouterr().out
    rows = Lake.open(str(lake)).read("channels").to_pylist()
    assert [(r["channel"], r["game"], r["ts"].isoformat()) for r in rows] == [
        ("foo", "Chess", "2024-04-01T10:00:00+00:00")
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"ts,channel\n2024-01-01T00:00:00Z,a\n", ":1: field 'user': missing required column"),
        (b"ts,channel,user\nnot-a-time,a,x\n", ":2: field 'ts': expected an ISO-8601"),
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00junk", "binary data"),
        (b'ts,channel,user\n2024-01-01T00:00:00Z,"a,x\n', ":2: malformed CSV"),
        (b"ts,channel,user\n2024-01-01T00:00:00Z,a,\xff\xfe\n", "UTF-8"),
    ],
    ids=["missing-column", "bad-ts", "empty", "binary", "stray-quote", "bad-utf8"],
)
def test_bad_input_exits_2_with_one_line_and_lake_unchanged(
    tmp_path: Path,
    plain: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    fragment: str,
) -> None:
    lake = tmp_path / "lake"
    assert run(["import", "presence", str(plain), "--lake", str(lake)]) == 0
    before = files_of(lake)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    capsys.readouterr()
    assert run(["import", "presence", str(bad), "--lake", str(lake), "--format", "plain"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    error_lines = [ln for ln in err if ln.startswith("error:")]
    assert len(error_lines) == 1, err
    assert error_lines[0].startswith(f"error: {bad}")
    assert fragment in error_lines[0]
    assert files_of(lake) == before


def test_bad_option_values_exit_2(tmp_path: Path, plain: Path) -> None:
    lake = str(tmp_path / "lake")
    assert run(["import", "presence", str(plain), "--lake", lake, "--format", "xls"]) == 2
    assert run(["import", "presence", str(plain), "--lake", lake, "--snapshot-time", "soon"]) == 2
    assert not (tmp_path / "lake").exists()


def test_python_dash_m_subprocess(tmp_path: Path, plain: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-13-01T00:00:00Z,a,y\n")
    lake = tmp_path / "lake"
    assert run(["import", "presence", str(plain), "--lake", str(lake)]) == 0
    before = files_of(lake)
    proc = subprocess.run(
        [sys.executable, "-m", "vieweratlas", "import", "presence", str(bad), "--lake", str(lake)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert f"error: {bad}:3: field 'ts'" in proc.stderr
    assert files_of(lake) == before


def test_bucket_length_comes_from_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("vod:\n  bucket_len: 1m\n")
    chat = tmp_path / "chat.json"
    doc = {
        "streamer": {"name": "s"},
        "video": {"created_at": "2024-03-01T12:00:00Z"},
        "comments": [
            {"content_offset_seconds": off, "commenter": {"name": "u", "_id": "9"}}
            for off in (10.0, 59.9, 60.0, 299.0)
        ],
    }
    chat.write_text(json.dumps(doc))
    lake = tmp_path / "lake"
    code = run(["import", "presence", str(chat), "--lake", str(lake), "--config", str(config)])
    assert code == 0, capsys.readouterr().err
    rows = Lake.open(str(lake)).read("presence").sort_by("ts").to_pylist()
    assert [(r["ts"].strftime("%H:%M:%S"), r["messages"]) for r in rows] == [
        ("12:00:00", 2),
        ("12:01:00", 1),
        ("12:04:00", 1),
    ]
