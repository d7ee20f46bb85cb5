"""Bad input: a one-line InputError naming file, line and field; the lake exactly as before."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vieweratlas.errors import InputError
from vieweratlas.ingest import import_channels, import_presence
from vieweratlas.lake import Lake

GOOD = "ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-01T00:05:00Z,a,y\n"

# name, file content, format, expected line (None: not checked), field, message fragment
CASES: list[tuple[str, bytes, str, int | None, str | None, str]] = [
    ("missing_column.csv", b"ts,channel\n2024-01-01T00:00:00Z,a\n", "plain", 1, "user", "missing"),
    (
        "bad_ts.csv",
        b"ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-01T00:05:00Z,a,y\nyesterday,a,z\n",
        "plain",
        4,
        "ts",
        "ISO-8601",
    ),
    ("bad_epoch_ms.csv", b"ts,channel,user\n1704067200000,a,x\n", "plain", 2, "ts", "range"),
    ("empty.csv", b"", "plain", None, None, "empty"),
    ("blank.csv", b"\n\n  \n", "auto", None, None, "empty"),
    ("junk.csv", bytes(range(256)) * 40, "plain", 1, None, "binary"),
    ("junk.bin", b"\x00\x01\x02garbage\xff\xfe" * 100, "auto", 1, None, "binary"),
    (
        "stray_quote.csv",
        b'ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-01T00:05:00Z,"a,y\n'
        b"2024-01-01T00:10:00Z,a,z\n",
        "plain",
        3,
        None,
        "quote",
    ),
    (
        "bad_utf8.csv",
        b"ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-01T00:05:00Z,a,\xc3\x28y\n",
        "plain",
        3,
        None,
        "UTF-8",
    ),
    ("empty_user.csv", b"ts,channel,user\n2024-01-01T00:00:00Z,a,\n", "plain", 2, "user", "empty"),
    (
        "bad_messages.csv",
        b"ts,channel,user,messages\n2024-01-01T00:00:00Z,a,x,-3\n",
        "plain",
        2,
        "messages",
        "whole number",
    ),
    (
        "mixed.jsonl",
        b'{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x"}\n'
        b'{"ts": 1704067200, "channel": "a", "user": "y"}\n',
        "plain",
        2,
        "ts",
        "changed",
    ),
    (
        "broken.jsonl",
        b'{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": \n',
        "plain",
        1,
        None,
        "JSON",
    ),
    ("bad.parquet", b"PAR1 not really parquet PAR1", "plain", None, None, "Parquet"),
    (
        "interactions_backwards.csv",
        b"1,10,streamer_a,5,7\n2,10,streamer_a,9,3\n",
        "interactions",
        2,
        "stop",
        "before start",
    ),
    (
        "interactions_text.csv",
        b"1,10,streamer_a,5,7\n2,10,streamer_a,five,7\n",
        "interactions",
        2,
        "start",
        "whole number",
    ),
    ("td_not_object.json", b"[1, 2, 3]", "twitchdownloader", None, None, "TwitchDownloader"),
    (
        "td_truncated.json",
        b'{"streamer": {"name": "x"}, "video": {"created_at": "2024-01-01T00:00:00Z"}, '
        b'"comments": [{"content_offset_seconds": 1, "commenter": {"name": "a"}}, {"con',
        "twitchdownloader",
        None,
        None,
        "invalid JSON",
    ),
    (
        "td_no_offset.json",
        json.dumps(
            {
                "streamer": {"name": "x"},
                "video": {"created_at": "2024-01-01T00:00:00Z"},
                "comments": [{"commenter": {"name": "a"}}],
            }
        ).encode(),
        "twitchdownloader",
        None,
        "comments[0].content_offset_seconds",
        "seconds",
    ),
    (
        "td_huge_offset.json",
        json.dumps(
            {
                "streamer": {"name": "x"},
                "video": {"created_at": "2024-01-01T00:00:00Z"},
                "comments": [{"content_offset_seconds": 1e300, "commenter": {"name": "a"}}],
            }
        ).encode(),
        "twitchdownloader",
        None,
        "comments[0].content_offset_seconds",
        "seconds",
    ),
    (
        "td_bad_start.json",
        b'{"streamer": {"name": "x"}, "video": {"created_at": 1e300}, "comments": []}',
        "twitchdownloader",
        None,
        "video.created_at",
        "",
    ),
    (
        "cd_no_author.json",
        b'[{"time_in_seconds": 1, "timestamp": 1704067200000000}, {"time_in_seconds": 2}]',
        "chat-downloader",
        None,
        "[0].author.name",
        "author",
    ),
    ("corrupt.csv.gz", gzip.compress(GOOD.encode())[:-12] + b"garbage!", "plain", None, None, ""),
]


@pytest.fixture
def seeded(
    lake: Lake, tmp_path: Path, lake_state: Callable[[], dict[str, bytes]]
) -> dict[str, bytes]:
    """A lake that already holds some rows; returns its exact contents."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    import_presence(lake, [good])
    state = lake_state()
    assert state
    return state


@pytest.mark.parametrize(
    ("name", "data", "fmt", "line", "field", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file_is_refused_and_lake_unchanged(
    lake: Lake,
    tmp_path: Path,
    seeded: dict[str, bytes],
    lake_state: Callable[[], dict[str, bytes]],
    name: str,
    data: bytes,
    fmt: str,
    line: int | None,
    field: str | None,
    fragment: str,
) -> None:
    bad = tmp_path / name
    bad.write_bytes(data)
    new_good = tmp_path / "new_good.csv"  # valid rows in the same call are not written either
    new_good.write_text("ts,channel,user\n2024-02-01T00:00:00Z,b,z\n")
    files = [new_good, bad] if fmt in ("plain", "auto") else [bad]
    with pytest.raises(InputError) as info:
        import_presence(lake, files, fmt=fmt, channel="chan")
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith(str(bad))
    assert fragment.lower() in message.lower()
    if line is not None:
        assert err.line == line, message
    if field is not None:
        assert err.field == field, message
    assert lake_state() == seeded


def test_bad_channels_file(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "channels.csv"
    f.write_text("channel,game,language,viewers\nfoo,Chess,en,many\n")
    with pytest.raises(InputError) as info:
        import_channels(lake, [f])
    assert (info.value.line, info.value.field) == (2, "viewers")
    f.write_text("channel,viewers\nfoo,5\n")
    with pytest.raises(InputError) as info:
        import_channels(lake, [f])
    assert (info.value.line, info.value.field) == (1, "game")
    assert lake.list_files("curated") == []


def test_unknown_format_and_missing_file(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(GOOD)
    with pytest.raises(InputError, match="unknown format"):
        import_presence(lake, [f], fmt="excel")
    with pytest.raises(InputError, match="cannot read"):
        import_presence(lake, [tmp_path / "nope.csv"])


def test_line_numbers_count_blank_lines_and_multiline_fields(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(
        "ts,channel,user,note\n"
        '2024-01-01T00:00:00Z,a,x,"two\nlines"\n'
        "\n"
        "2024-01-01T00:05:00Z,a,y,\n"
        "tomorrow,a,z,\n"
    )
    with pytest.raises(InputError) as info:
        import_presence(lake, [f])
    assert (info.value.line, info.value.field) == (6, "ts")
    j = tmp_path / "p.jsonl"
    j.write_text(
        '{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x"}\n'
        "\n"
        '{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": ""}\n'
    )
    with pytest.raises(InputError) as info:
        import_presence(lake, [j])
    assert (info.value.line, info.value.field) == (3, "user")
