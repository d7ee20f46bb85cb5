"""Contracts every plugin meets: each import format and each platform, one test over all.

A new import format or platform must add its sample here (the first test fails until it
does), and then gets, for free, the tests every other one has: it is recognised from its
bytes, its rows round-trip through the lake, and a bad file is refused with one line and an
unchanged lake. (streamlink's plugin tests are the model.)
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vieweratlas.errors import InputError
from vieweratlas.ingest import DEFAULT_BASE_TIME, detect_format, import_presence
from vieweratlas.ingest.importer import FORMATS
from vieweratlas.lake import Lake
from vieweratlas.platforms import PLATFORMS

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    """A small valid file of the format, what it must give, and a broken variant."""

    name: str
    good: bytes
    rows: set[tuple[datetime, str, str]]  # (ts, channel, user) the lake must hold after
    bad: bytes
    options: dict[str, object] = field(default_factory=dict)


def _td() -> bytes:
    comments = [
        {"_id": "1", "content_offset_seconds": 10.0, "commenter": {"name": "alice", "_id": "7"}},
        {"_id": "2", "content_offset_seconds": 310.0, "commenter": {"name": "Bob", "_id": "8"}},
    ]
    doc = {
        "streamer": {"name": "somestreamer", "id": 1},
        "video": {"created_at": "2026-03-01T12:00:00Z", "start": 0, "end": 600},
        "comments": comments,
    }
    return gzip.compress(json.dumps(doc).encode())


t0_us = int(T0.timestamp() * 1_000_000)
SAMPLES = {
    "plain": Sample(
        "presence.csv",
        b"ts,channel,user\n2026-03-01T12:00:00Z,shroud,alice\n2026-03-01T12:05:00Z,xqc,bob\n",
        {(T0, "shroud", "alice"), (T0 + timedelta(minutes=5), "xqc", "bob")},
        b"ts,channel,user\n2026-03-01T12:00:00Z,shroud\n",
    ),
    "interactions": Sample(
        "100k_a.csv",
        b"1,33842865744,mithrain,0,1\n2,33842865745,alptv,3,3\n",
        {
            (DEFAULT_BASE_TIME, "mithrain", "1"),
            (DEFAULT_BASE_TIME + timedelta(minutes=30), "alptv", "2"),
        },
        b"1,33842865744,mithrain,5,oops\n",
    ),
    "chat-downloader": Sample(
        "chat.json",
        json.dumps(
            [
                {"time_in_seconds": 1.0, "timestamp": t0_us + 1_000_000, "author": {"name": "a"}},
                {
                    "time_in_seconds": 301.0,
                    "timestamp": t0_us + 301_000_000,
                    "author": {"name": "b"},
                },
            ]
        ).encode(),
        {(T0, "somestreamer", "a"), (T0 + timedelta(minutes=5), "somestreamer", "b")},
        b'[{"time_in_seconds": 1.0, "timestamp": 1, "author": {"name": "a"}',
        {"channel": "somestreamer"},
    ),
    "twitchdownloader": Sample(
        "chat.json.gz",
        _td(),
        {(T0, "somestreamer", "alice"), (T0 + timedelta(minutes=5), "somestreamer", "bob")},
        gzip.compress(b'{"streamer": {"name": "x"}, "comments": [{"_id": '),
    ),
}


def test_every_import_format_has_a_contract_sample() -> None:
    assert set(SAMPLES) == set(FORMATS), "add a Sample for each registered format"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_is_recognised_from_its_bytes(fmt: str, tmp_path: Path) -> None:
    sample = SAMPLES[fmt]
    path = tmp_path / sample.name
    path.write_bytes(sample.good)
    assert detect_format(path) == fmt


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_rows_round_trip_through_the_lake(fmt: str, tmp_path: Path) -> None:
    sample = SAMPLES[fmt]
    path = tmp_path / sample.name
    path.write_bytes(sample.good)
    lake = Lake.open(str(tmp_path / "lake"))
    result = import_presence(lake, [path], fmt=fmt, **sample.options)  # type: ignore[arg-type]
    got = {(r["ts"], r["channel"], r["user"]) for r in lake.read("presence").to_pylist()}
    assert got == sample.rows
    assert result.rows_written == len(sample.rows)
    again = import_presence(lake, [path], fmt=fmt, **sample.options)  # type: ignore[arg-type]
    assert again.rows_written == 0  # idempotent
    assert lake.read("presence").num_rows == len(sample.rows)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_refuses_a_bad_file_in_one_line_and_leaves_the_lake(
    fmt: str, tmp_path: Path
) -> None:
    sample = SAMPLES[fmt]
    good, bad = tmp_path / sample.name, tmp_path / f"bad-{sample.name}"
    good.write_bytes(sample.good)
    bad.write_bytes(sample.bad)
    lake = Lake.open(str(tmp_path / "lake"))
    with pytest.raises(InputError) as caught:
        import_presence(lake, [good, bad], fmt=fmt, **sample.options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and str(bad) in message
    assert lake.list_files("") == []  # the good file was not written either


# ---------------------------------------------------------------------- platforms

NAMES = {
    "twitch": (
        ["Shroud", "#xqc", "ok_1"],
        ["bad name", "a" * 26, "x\njoin", "bébé", "", "\u212aai_cenat"],  # KELVIN SIGN K
    ),
    "kick": (["Adin-Ross", "xqc", "ice_poseidon"], ["bad name", "a" * 26, "x\ny", "#", ""]),
    "youtube": (
        ["UCX6OQ3DkcsbYNE6H8uQQuVA", "@MrBeast", "@a.b-c_d"],
        ["ucx6oq3dkcsbyne6h8uqquva!", "@ab", "MrBeast", "UCshort", "@xyz\nw"],
    ),
}


def test_every_platform_has_a_contract_sample() -> None:
    assert set(NAMES) == set(PLATFORMS)


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_platform_login_rule_normalises_and_refuses(name: str) -> None:
    platform = PLATFORMS[name]
    good, bad = NAMES[name]
    for raw in good:
        stored = platform.normalize(raw)
        assert stored is not None, raw
        assert platform.normalize(stored) == stored  # normalising is idempotent
        assert platform.login_rule.fullmatch(stored)
    for raw in bad:
        assert platform.normalize(raw) is None, raw


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_platform_collectors_have_parser_bad_input_and_round_trip_tests(name: str) -> None:
    """A platform with a source package has tests for each of the three contracts."""
    package = ROOT / "src" / "vieweratlas" / "sources" / name
    if not package.is_dir():
        pytest.skip(f"{name}: no collector package yet (imports only)")
    text = "\n".join(p.read_text() for p in (ROOT / "tests" / "sources" / name).rglob("test_*.py"))
    assert "def test_" in text
    assert any(k in text for k in ("parse", "sniff")), f"{name}: no parser test"
    assert any(k in text for k in ("malformed", "bad", "reject", "refuse")), (
        f"{name}: no bad-input test"
    )
    assert any(k in text for k in ("round_trip", "restart", "to_the_lake", "lake")), (
        f"{name}: no round-trip test"
    )
