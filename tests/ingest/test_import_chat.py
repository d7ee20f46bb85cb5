"""Chat files: TwitchDownloader (1.4 and older, .gz) and chat-downloader → presence buckets."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vieweratlas.errors import InputError
from vieweratlas.ingest import Limits, detect_format, import_presence
from vieweratlas.lake import Lake

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
WriteJson = Callable[[str, Any], Path]


def presence(lake: Lake) -> list[tuple[datetime, str, str, str | None, int, str]]:
    t = lake.read("presence").sort_by([("ts", "ascending"), ("user", "ascending")])
    return [
        (r["ts"], r["channel"], r["user"], r["user_id"], r["messages"], r["source"])
        for r in t.to_pylist()
    ]


@pytest.mark.parametrize("version", ["1.4", "old"])
@pytest.mark.parametrize("name", ["chat.json", "chat.json.gz"])
def test_twitchdownloader_buckets(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any], version: str, name: str
) -> None:
    comments = [
        (0.0, "Alice", "1"),
        (12.5, "alice", "1"),
        (299.999, "bob", "2"),
        (300.0, "bob", "2"),
        (301.0, "carol", None),
        (3599.0, "alice", "1"),
    ]
    path = write_json(name, td(comments, channel="SomeStreamer", version=version))
    assert detect_format(path) == "twitchdownloader"
    result = import_presence(lake, [path])
    m5 = timedelta(minutes=5)
    assert presence(lake) == [
        (START, "somestreamer", "alice", "1", 2, "vod"),
        (START, "somestreamer", "bob", "2", 1, "vod"),
        (START + m5, "somestreamer", "bob", "2", 1, "vod"),
        (START + m5, "somestreamer", "carol", None, 1, "vod"),
        (START + 11 * m5, "somestreamer", "alice", "1", 1, "vod"),
    ]
    assert result.rows_written == 5
    assert import_presence(lake, [path]).rows_written == 0


def test_comment_at_299_and_300_seconds_land_in_different_buckets(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any]
) -> None:
    path = write_json("edge.json", td([(299.0, "x", None), (300.0, "x", None)]))
    import_presence(lake, [path])
    assert [r[0] for r in presence(lake)] == [START, START + timedelta(seconds=300)]


def test_bucket_length_is_a_parameter(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any]
) -> None:
    path = write_json("c.json", td([(10.0, "x", None), (70.0, "x", None)]))
    import_presence(lake, [path], bucket_len=timedelta(seconds=60))
    assert [r[0] for r in presence(lake)] == [START, START + timedelta(seconds=60)]


def test_old_file_without_video_created_at_uses_first_comment(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any]
) -> None:
    doc = td([(100.0, "x", None)], created_at=None, version="old")
    doc["comments"][0]["created_at"] = "2024-03-01T12:01:40Z"  # 100 s after the VOD start
    import_presence(lake, [write_json("old.json", doc)])
    assert [r[0] for r in presence(lake)] == [START]


def test_deleted_commenters_are_skipped_and_channel_option_overrides(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any]
) -> None:
    doc = td([(1.0, "x", None), (2.0, "y", None)])
    doc["comments"][1]["commenter"] = None
    import_presence(lake, [write_json("d.json", doc)], channel="Other")
    assert [(r[1], r[2]) for r in presence(lake)] == [("other", "x")]


def test_many_comments_across_chunks_sum_correctly(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import vieweratlas.ingest.chat as chat

    monkeypatch.setattr(chat, "CHUNK", 7)  # force many partial aggregates
    comments = [((i * 37) % 900 + 0.5, f"user{i % 5}", str(i % 5)) for i in range(200)]
    import_presence(lake, [write_json("many.json.gz", td(comments))])
    got = presence(lake)
    expected: dict[tuple[datetime, str], int] = {}
    for offset, user, _ in comments:
        key = (START + timedelta(seconds=300 * (offset // 300)), user)
        expected[key] = expected.get(key, 0) + 1
    assert {(r[0], r[2]): r[4] for r in got} == expected
    assert sum(r[4] for r in got) == 200


def test_chat_downloader_replay_and_live(lake: Lake, write_json: WriteJson) -> None:
    t0 = int(START.timestamp() * 1_000_000)
    replay = [
        {"time_in_seconds": 1.0, "timestamp": t0 + 1_000_000, "author": {"name": "a", "id": "7"}},
        {"time_in_seconds": 299.0, "timestamp": t0 + 299_000_000, "author": {"name": "A"}},
        {"time_in_seconds": 300.0, "timestamp": t0 + 300_000_000, "author": {"name": "b"}},
        {
            "message_type": "text_message",
            "time_in_seconds": -5.0,
            "timestamp": t0 - 5_000_000,
            "author": {"display_name": "Early"},
        },
    ]
    path = write_json("replay.json", replay)
    assert detect_format(path) == "chat-downloader"
    import_presence(lake, [path], channel="Chan")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in presence(lake)] == [
        (START, "chan", "a", "7", 2),
        (START, "chan", "early", None, 1),
        (START + timedelta(seconds=300), "chan", "b", None, 1),
    ]
    live_lake = Lake.open(str(Path(lake.root).parent / "live"))
    live = [{"timestamp": t0 + 61_000_000, "author": {"name": "z"}}]
    import_presence(live_lake, [write_json("live.json", live)], channel="chan")
    assert [r[0] for r in presence(live_lake)] == [START]  # aligned on UTC 5-minute marks


def test_chat_downloader_needs_a_channel(lake: Lake, write_json: WriteJson) -> None:
    path = write_json("x.json", [{"timestamp": 1, "time_in_seconds": 0, "author": {"name": "a"}}])
    with pytest.raises(InputError, match="--channel"):
        import_presence(lake, [path])


def _bomb(path: Path, prefix: bytes, total: int = 1 << 30) -> None:
    """A gzip file inflating to ``total`` bytes: zeros streamed through gzip, in members."""
    chunk = 16 << 20
    member = gzip.compress(b" " * chunk if prefix else bytes(chunk), compresslevel=9)
    with path.open("wb") as f:
        f.write(gzip.compress(prefix))
        for _ in range(total // chunk):
            f.write(member)


@pytest.mark.parametrize(
    ("name", "prefix", "fmt"),
    [
        ("bomb.json.gz", b'{"streamer": {"name": "x"}, "comments": [', "twitchdownloader"),
        ("bomb-zeros.json.gz", b"", "twitchdownloader"),
        ("bomb.csv.gz", b"ts,channel,user\n", "plain"),
    ],
)
def test_gzip_bomb_is_refused(
    lake: Lake, tmp_path: Path, name: str, prefix: bytes, fmt: str
) -> None:
    path = tmp_path / name
    _bomb(path, prefix)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(InputError) as info:
        import_presence(lake, [path], fmt=fmt)
    assert "\n" not in str(info.value)
    assert lake.list_files("curated") == []


def test_gzip_bomb_message_names_the_ratio(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "bomb.json.gz"
    _bomb(path, b'{"streamer": {"name": "x"}, "comments": [', total=256 << 20)
    with pytest.raises(InputError, match="inflates"):
        import_presence(lake, [path], fmt="twitchdownloader")


@pytest.mark.parametrize("shape", ["arrays", "objects", "in_comment"])
def test_deeply_nested_json_is_refused(lake: Lake, tmp_path: Path, shape: str) -> None:
    depth = 100_000
    if shape == "arrays":
        data = b"[" * depth + b"]" * depth
        fmt = "chat-downloader"
    elif shape == "objects":
        data = b'{"a":' * depth + b"1" + b"}" * depth
        fmt = "twitchdownloader"
    else:
        data = (
            b'{"streamer": {"name": "x"}, "video": {"created_at": "2024-01-01T00:00:00Z"},'
            b' "comments": [{"content_offset_seconds": 1, "commenter": {"name": "a"}, "m": '
            + b"[" * depth
            + b"]" * depth
            + b"}]}"
        )
        fmt = "twitchdownloader"
    path = tmp_path / "deep.json"
    path.write_bytes(data)
    with pytest.raises(InputError, match="nested deeper") as info:
        import_presence(lake, [path], fmt=fmt, channel="c")
    assert "\n" not in str(info.value)


def test_size_cap(lake: Lake, write_json: WriteJson, td: Callable[..., Any]) -> None:
    path = write_json("c.json", td([(1.0, "x", None)]))
    with pytest.raises(InputError, match="limit"):
        import_presence(lake, [path], limits=Limits(max_file_bytes=100))


def test_brackets_and_escapes_inside_strings_do_not_count_as_nesting(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any]
) -> None:
    doc = td([(1.0, "x", None)])
    doc["comments"][0]["message"]["body"] = '\\"' + "[{" * 500 + '\\\\"'
    path = write_json("s.json", doc)
    assert json.loads(path.read_text())  # valid JSON with 1,000 brackets in a string
    import_presence(lake, [path])
    assert len(presence(lake)) == 1


@pytest.mark.parametrize("name", ["p.json", "p.json.gz"])
def test_progress_counts_file_bytes_once(
    lake: Lake, write_json: WriteJson, td: Callable[..., Any], name: str
) -> None:
    path = write_json(name, td([(float(i), f"u{i % 9}", None) for i in range(3000)]))
    seen: list[int] = []
    import_presence(lake, [path], progress=seen.append)
    assert sum(seen) == path.stat().st_size


def test_json_with_byte_order_mark(lake: Lake, tmp_path: Path, td: Callable[..., Any]) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(td([(1.0, "x", None)])).encode())
    assert detect_format(path) == "twitchdownloader"
    import_presence(lake, [path])
    assert [r[2] for r in presence(lake)] == ["x"]
