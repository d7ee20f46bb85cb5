"""Hostile and unusual files: no crash, bounded memory, one-line errors, valid ones accepted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from testkit import run_cli
from vieweratlas.errors import InputError
from vieweratlas.ingest import Limits, import_channels, import_presence
from vieweratlas.lake import Lake

Snapshot = Callable[[], dict[str, bytes]]
ROW = '{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x"}'


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("error: "), lines[0][:500]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ nesting depth


@pytest.mark.parametrize("command", ["presence", "channels"])
def test_deep_first_json_line_is_refused_not_a_crash(tmp_path: Path, command: str) -> None:
    """Arrow used to parse the first JSON Lines record before the depth guard: SIGSEGV."""
    f = tmp_path / "deep.jsonl"
    f.write_bytes(b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}\n" + ROW.encode() + b"\n")
    lake = tmp_path / "lake"
    proc = subprocess.run(
        [sys.executable, "-m", "vieweratlas", "import", command, str(f), "--lake", str(lake)],
        capture_output=True,
        text=True,
        env={**os.environ, "VIEWERATLAS_LOG_LEVEL": "WARNING"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "nested deeper than" in one_error_line(proc.stderr)
    assert not lake.exists() or not any(p.is_file() for p in lake.rglob("*"))


# ------------------------------------------------------------------ line length


@pytest.mark.parametrize(
    ("name", "head", "fill"),
    [
        ("long.csv", b"ts,channel,user\n2024-01-01T00:00:00Z,a,", b"x"),
        ("long.jsonl", b'{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "', b"x"),
        ("nolf.jsonl", ROW.encode(), b" "),  # JSON Lines without any newline
    ],
)
def test_a_64_mb_line_is_one_line_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lake_state: Snapshot,
    name: str,
    head: bytes,
    fill: bytes,
) -> None:
    """A line over the cap stops the import as soon as the cap is passed (the message is one
    short line, not the line itself); bench/bench_import.py measures the memory."""
    f = tmp_path / name
    with f.open("wb") as out:
        out.write(head)
        chunk = fill * (1 << 20)
        for _ in range(64):
            out.write(chunk)
    code, _, err = cli(["import", "presence", str(f), "--lake", str(tmp_path / "lake")], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "longer than 16777216 bytes" in line
    assert len(line) < 400
    assert lake_state() == {}


def test_line_limit_counts_cr_lf_and_crlf(tmp_path: Path, lake: Lake) -> None:
    limits = Limits(max_line_bytes=100)
    for end in (b"\n", b"\r", b"\r\n"):
        f = tmp_path / "p.csv"
        rows = [b"ts,channel,user"] + [b"2024-01-01T00:00:00Z,a,u%d" % i for i in range(50)]
        f.write_bytes(end.join(rows) + end)
        assert import_presence(lake, [f], limits=limits).rows_in == 50
        f.write_bytes(end.join([*rows[:5], b"2024-01-01T00:00:00Z,a," + b"y" * 200]) + end)
        with pytest.raises(InputError, match="longer than 100 bytes") as info:
            import_presence(lake, [f], limits=limits)
        assert info.value.line == 6


# ------------------------------------------------------------------ valid inputs that were refused


def test_dictionary_encoded_parquet_strings(tmp_path: Path, lake: Lake) -> None:
    """What pandas writes for a categorical column."""
    table = pa.table(
        {
            "ts": pa.array(["2024-01-01T00:00:00Z"] * 3).dictionary_encode(),
            "channel": pa.array(["a", "b", "a"]).dictionary_encode(),
            "user": pa.array(["x", "y", "z"]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "cat.parquet")
    assert import_presence(lake, [tmp_path / "cat.parquet"]).rows_written == 3
    channels = pa.table(
        {
            "channel": pa.array(["a", "b"]).dictionary_encode(),
            "game": pa.array(["Chess", "Go"]).dictionary_encode(),
            "language": pa.array(["en", "en"]).dictionary_encode(),
        }
    )
    pq.write_table(channels, tmp_path / "ch.parquet")
    import_channels(lake, [tmp_path / "ch.parquet"])
    got = {r["channel"]: r["game"] for r in lake.read("channels").to_pylist()}
    assert got == {"a": "Chess", "b": "Go"}


def test_json_lines_line_over_one_mib(tmp_path: Path, lake: Lake) -> None:
    f = tmp_path / "big.jsonl"
    pad = "p" * (3 << 20)
    lines = [
        json.dumps({"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x", "note": pad}),
        json.dumps({"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "y", "note": "n"}),
        json.dumps({"ts": "2024-01-01T00:00:00Z", "channel": "b", "user": "z", "note": pad}),
    ]
    f.write_text("\n".join(lines) + "\n")
    assert import_presence(lake, [f]).rows_written == 3


@pytest.mark.parametrize(
    ("name", "body", "fmt"),
    [
        ("p.csv", "ts,channel,user\n2024-01-01T00:00:00Z,a,x\n", "auto"),
        ("p.jsonl", ROW + "\n", "auto"),
        ("i.csv", "1,10,streamer_a,5,7\n", "interactions"),
        ("h.csv", "user_id,stream_id,streamer,start,stop\n1,10,streamer_a,5,6\n", "interactions"),
    ],
)
def test_two_thousand_leading_blank_lines(
    tmp_path: Path, lake: Lake, name: str, body: str, fmt: str
) -> None:
    f = tmp_path / name
    f.write_text("\n" * 2000 + body)
    result = import_presence(lake, [f], fmt=fmt)
    assert result.rows_written >= 1
    f.write_text("\n" * 2000 + body.replace("2024", "yesterday").replace(",5,", ",five,"))
    with pytest.raises(InputError) as info:
        import_presence(lake, [f], fmt=fmt)
    assert info.value.line == 2001 + (1 if "h.csv" in name or name.startswith("p.csv") else 0)


def test_blank_lines_before_the_header_are_capped(tmp_path: Path, lake: Lake) -> None:
    f = tmp_path / "p.csv"
    f.write_text("\n" * 90_000 + "ts,channel,user\n2024-01-01T00:00:00Z,a,x\n")
    assert import_presence(lake, [f]).rows_written == 1  # past the 64 KiB the sniffer sees
    with pytest.raises(InputError, match="all blank"):
        import_presence(lake, [f], limits=Limits(max_blank_lines=10))


# ------------------------------------------------------------------ CR-only line ends


@pytest.mark.parametrize("name", ["cr.csv", "cr.jsonl"])
def test_cr_only_line_ends_are_accepted_with_right_line_numbers(
    tmp_path: Path, lake: Lake, name: str
) -> None:
    if name.endswith(".csv"):
        good = ["ts,channel,user", "2024-01-01T00:00:00Z,a,x", "2024-01-01T00:05:00Z,b,y"]
        bad = [*good, "tomorrow,c,z"]
    else:
        good = [ROW, ROW.replace('"x"', '"y"'), ROW.replace('"a"', '"b"')]
        bad = [*good, ROW.replace('"x"', '""')]
    f = tmp_path / name
    f.write_bytes("\r".join(good).encode() + b"\r")
    import_presence(lake, [f])
    users = sorted(lake.read("presence").column("user").to_pylist())
    assert users == (["x", "y"] if name.endswith(".csv") else ["x", "x", "y"])
    f.write_bytes("\r".join(bad).encode() + b"\r")
    with pytest.raises(InputError) as info:
        import_presence(lake, [f])
    assert info.value.line == 4


# ------------------------------------------------------------------ headers and columns


def test_header_field_over_128_kib_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "h.csv"
    f.write_bytes(b"ts,channel,user," + b"h" * (200 << 10) + b"\n2024-01-01T00:00:00Z,a,x,1\n")
    code, _, err = cli(["import", "presence", str(f), "--lake", str(tmp_path / "lake")], capsys)
    assert code == 2
    assert "character name" in one_error_line(err)


@pytest.mark.parametrize("name", ["dup.csv", "dup.parquet", "dup.jsonl", "dup.json"])
def test_duplicate_column_names_are_refused(tmp_path: Path, lake: Lake, name: str) -> None:
    f = tmp_path / name
    if name.endswith(".csv"):
        f.write_text("ts,channel,user,user\n2024-01-01T00:00:00Z,a,x,y\n")
    elif name.endswith(".parquet"):
        arrays = [pa.array(["2024-01-01T00:00:00Z"]), pa.array(["a"]), pa.array(["x"])]
        table = pa.Table.from_arrays([*arrays, pa.array(["y"])], ["ts", "channel", "user", "user"])
        pq.write_table(table, f)
    else:
        row = '{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x", "user": "y"}'
        f.write_text(f"[{row}]" if name.endswith(".json") else row + "\n")
    with pytest.raises(InputError, match="duplicate") as info:
        import_presence(lake, [f])
    assert "\n" not in str(info.value)
    assert lake.list_files("curated") == []


def _parquet_bytes(rows: int = 2000) -> bytes:
    table = pa.table(
        {
            "ts": [f"2024-01-01T00:{i % 60:02d}:00Z" for i in range(rows)],
            "channel": [f"c{i % 7}" for i in range(rows)],
            "user": [f"u{i}" for i in range(rows)],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=500)
    return buf.getvalue()


def test_truncated_parquet_inputs_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lake_state: Snapshot
) -> None:
    data = _parquet_bytes()
    f = tmp_path / "cut.parquet"
    lake = str(tmp_path / "lake")
    cuts = sorted({4, 8, 100, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 9})
    for cut in [*cuts, len(data) - 1]:
        f.write_bytes(data[:cut])
        code, _, err = cli(["import", "presence", str(f), "--lake", lake], capsys)
        assert code == 2, cut
        assert "Parquet" in one_error_line(err)
        assert lake_state() == {}
    # A file whose footer survived but whose pages were overwritten.
    f.write_bytes(data[:200] + b"\x00" * (len(data) // 2 - 200) + data[len(data) // 2 :])
    code, _, err = cli(["import", "presence", str(f), "--lake", lake], capsys)
    if code != 0:
        assert code == 2
        one_error_line(err)
