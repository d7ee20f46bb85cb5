"""The importer contract on arbitrary bytes, for every format: success, or exit 2 with exactly
one line on stderr and the lake byte-for-byte unchanged; never a traceback or a crash.

Inputs are random bytes and random mutations (cuts, flips, insertions, repeats) of a valid
file of each format, so the fuzzer reaches the parsers' inner paths and not only the
sniffers. The budget is bounded (``FUZZ_EXAMPLES`` per format; raise it locally with the
environment variable ``VIEWERATLAS_FUZZ_EXAMPLES``). A few fixed hostile files also run in a
subprocess, where a native crash (SIGSEGV) would show as its exit code.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit import run_cli
from vieweratlas.ingest import FORMATS

FUZZ_EXAMPLES = int(os.environ.get("VIEWERATLAS_FUZZ_EXAMPLES", "15"))
CSV = (
    "ts,channel,user,user_id,messages\n"
    "2024-01-01T00:00:00Z,alpha,u1,11,2\n"
    "2024-01-01T00:05:00Z,alpha,u2,,0\n"
    "1704067500,beta,u3,13,1\n"
)


def _parquet() -> bytes:
    buf = io.BytesIO()
    table = pa.table(
        {
            "ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"],
            "channel": pa.array(["alpha", "beta"]).dictionary_encode(),
            "user": ["u1", "u2"],
            "messages": [1, 2],
        }
    )
    pq.write_table(table, buf)
    return buf.getvalue()


def _td() -> bytes:
    comments = [
        {"content_offset_seconds": o, "commenter": {"name": n, "_id": str(i)}, "message": {}}
        for i, (o, n) in enumerate([(1.0, "u1"), (301.5, "u2"), (302, "u1")])
    ]
    doc = {
        "FileInfo": {"Version": {"Major": 1, "Minor": 4}},
        "streamer": {"name": "alpha", "id": 1},
        "video": {"created_at": "2024-03-01T12:00:00Z", "start": 0, "end": 600},
        "comments": comments,
    }
    return json.dumps(doc).encode()


def _chat_downloader() -> bytes:
    msgs = [
        {"author": {"name": "u1", "id": "1"}, "time_in_seconds": 1.0, "timestamp": 1709294401e6},
        {"author": {"name": "u2", "id": "2"}, "time_in_seconds": 400, "timestamp": 1709294800e6},
    ]
    return json.dumps(msgs).encode()


# format → a valid file of that format (the seed the mutations start from)
SEEDS: dict[str, list[bytes]] = {
    "plain": [
        CSV.encode(),
        b"".join(
            json.dumps(dict(zip(["ts", "channel", "user"], r.split(",")[:3], strict=True))).encode()
            + b"\n"
            for r in CSV.splitlines()[1:]
        ),
        _parquet(),
        gzip.compress(CSV.encode()),
    ],
    "interactions": [b"1,10,alpha,5,7\n2,10,beta,9,9\n3,11,alpha,0,2\n"],
    "twitchdownloader": [_td(), gzip.compress(_td())],
    "chat-downloader": [_chat_downloader()],
    "channels": [b"channel,game,language,viewers,title\nalpha,Chess,en,12,Hi\nbeta,,de,,\n"],
}
SEEDS["auto"] = [s for seeds in SEEDS.values() for s in seeds]


def test_every_format_is_fuzzed() -> None:
    assert set(FORMATS) <= set(SEEDS)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed file changed by a few random edits, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "repeat", "nest"]))
        if kind == "cut":
            del data[at:]
        elif kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(
                st.sampled_from([b"\x00", b"\r", b"\n", b'"', b",", b"\xff", b"\xe2\x80\xae"])
                | st.binary(max_size=8)
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(2, 50))
        else:
            depth = draw(st.integers(1, 200))
            data[at:at] = b"[" * depth + b"]" * depth
    return bytes(data)


def _lake_files(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run_cli(args)
    return code, err.getvalue()


def _check(fmt: str, data: bytes, tmp: Path) -> None:
    lake = tmp / "lake"
    if not lake.exists():  # a lake with rows already, so "unchanged" is a real check
        seed = tmp / "seed.csv"
        seed.write_text(CSV)
        assert _run(["import", "presence", str(seed), "--lake", str(lake)])[0] == 0
    suffix = ".parquet" if data[:4] == b"PAR1" else ".json" if data[:1] in b"[{" else ".csv"
    path = tmp / f"input{suffix}"
    path.write_bytes(data)
    before = _lake_files(lake)
    if fmt == "channels":
        args = ["import", "channels", str(path), "--lake", str(lake)]
    else:
        args = ["import", "presence", str(path), "--lake", str(lake), "--format", fmt]
        args += ["--channel", "alpha"]
    code, err = _run(args)
    assert code in (0, 2), (code, err[-3000:])
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err[-3000:]
        assert _lake_files(lake) == before


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_arbitrary_bytes_succeed_or_fail_in_one_line(fmt: str) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=mutated(SEEDS[fmt]))
        def run(data: bytes) -> None:
            _check(fmt, data, Path(tmp))

        run()


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_seeds_import(fmt: str, tmp_path: Path) -> None:
    """The mutations start from files that do import (else the fuzzer tests only errors)."""
    for i, seed in enumerate(SEEDS[fmt] if fmt != "auto" else []):
        path = tmp_path / f"seed{i}{'.parquet' if seed[:4] == b'PAR1' else ''}"
        path.write_bytes(seed)
        cmd = ["import", "channels"] if fmt == "channels" else ["import", "presence"]
        extra = [] if fmt == "channels" else ["--format", fmt, "--channel", "alpha"]
        code, err = _run([*cmd, str(path), "--lake", str(tmp_path / "lake"), *extra])
        assert code == 0, err


HOSTILE = {
    "deep_first_line.jsonl": b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
    "deep_later_line.jsonl": b'{"ts": 1704067200, "channel": "a", "user": "x"}\n{"a": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}\n",
    "deep_array.json": b"[" * 50_000 + b"]" * 50_000,
    "deep_td.json": b'{"streamer": {"name": "a"}, "comments": [' + b"[" * 50_000 + b"]}",
    "deep_unclosed.jsonl": b'{"a": ' + b"[" * 200_000,
}


@pytest.mark.slow  # ~5 s per interpreter start on a busy machine
@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["presence", "channels"])
def test_hostile_files_in_a_subprocess(tmp_path: Path, name: str, command: str) -> None:
    """Native crashes kill the interpreter: only a separate process can see them."""
    f = tmp_path / name
    f.write_bytes(HOSTILE[name])
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
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
