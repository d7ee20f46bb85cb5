"""The plain presence format and channel metadata: CSV, Parquet, JSON Lines, gzip."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vieweratlas.ingest import detect_format, import_channels, import_presence
from vieweratlas.lake import Lake


def rows(lake: Lake, table: str = "presence") -> list[dict[str, object]]:
    t = lake.read(table).sort_by([("ts", "ascending"), ("channel", "ascending")])
    return t.to_pylist()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_csv_times_iso_with_and_without_zone_epoch_and_date(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(
        "ts,channel,user,user_id,messages\n"
        "2024-01-01T00:00:00Z,Chan,Alice,11,2\n"
        "2024-01-01 00:05:00,chan,bob,,\n"
        "2024-01-01T02:10:00+02:00,chan,carol,13,0\n"
        "1704067500,Chan2,dave,14,1\n"
        "1704067500.5,chan2,eve,,3\n"
        "2024-01-02,chan3,frank,,\n"
    )
    result = import_presence(lake, [f])
    assert (result.rows_in, result.rows_written) == (6, 6)
    got = {(r["user"], r["ts"], r["channel"], r["user_id"], r["messages"]) for r in rows(lake)}
    assert got == {
        ("alice", at(2024, 1, 1, 0, 0), "chan", "11", 2),
        ("bob", at(2024, 1, 1, 0, 5), "chan", None, 0),
        ("carol", at(2024, 1, 1, 0, 10), "chan", "13", 0),
        ("dave", at(2024, 1, 1, 0, 5), "chan2", "14", 1),
        ("eve", datetime(2024, 1, 1, 0, 5, 0, 500000, tzinfo=UTC), "chan2", None, 3),
        ("frank", at(2024, 1, 2), "chan3", None, 0),
    }
    assert {r["source"] for r in rows(lake)} == {"import"}
    assert {r["platform"] for r in rows(lake)} == {"twitch"}
    assert {r["date"] for r in rows(lake)} == {"2024-01-01", "2024-01-02"}


def test_reimport_adds_nothing(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("ts,channel,user\n2024-01-01T00:00:00Z,a,x\n2024-01-01T00:05:00Z,a,y\n")
    first = import_presence(lake, [f])
    second = import_presence(lake, [f])
    assert first.rows_written == 2
    assert (second.rows_in, second.rows_written, second.files) == (2, 0, ())
    assert len(rows(lake)) == 2


def test_parquet_jsonl_and_gzip_give_the_same_rows(tmp_path: Path) -> None:
    table = pa.table(
        {
            "ts": pa.array([at(2024, 5, 1, 10), at(2024, 5, 1, 10, 5)], pa.timestamp("us", "UTC")),
            "channel": ["a", "b"],
            "user": ["x", "y"],
            "messages": pa.array([1, 2], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    jsonl = (
        '{"ts": "2024-05-01T10:00:00Z", "channel": "a", "user": "x", "messages": 1}\n'
        "\n"
        '{"ts": "2024-05-01T12:05:00+02:00", "channel": "b", "user": "y", "messages": 2}\n'
    )
    (tmp_path / "p.jsonl").write_text(jsonl)
    (tmp_path / "p.jsonl.gz").write_bytes(gzip.compress(jsonl.encode()))
    csv = "ts,channel,user,messages\n2024-05-01T10:00:00Z,a,x,1\n1714557900,b,y,2\n"
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(csv.encode()))
    results = []
    for name in ("p.parquet", "p.jsonl", "p.jsonl.gz", "p.csv.gz"):
        lake = Lake.open(str(tmp_path / f"lake-{name}"))
        assert detect_format(tmp_path / name) == "plain"
        import_presence(lake, [tmp_path / name])
        results.append([(r["ts"], r["channel"], r["user"], r["messages"]) for r in rows(lake)])
    assert all(r == results[0] for r in results)
    assert results[0] == [(at(2024, 5, 1, 10), "a", "x", 1), (at(2024, 5, 1, 10, 5), "b", "y", 2)]


def test_file_without_ts_is_one_snapshot(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "snap.csv"
    f.write_text("channel,user\na,x\nb,y\n")
    import_presence(lake, [f], snapshot_time=at(2024, 2, 3, 4, 5))
    assert {r["ts"] for r in rows(lake)} == {at(2024, 2, 3, 4, 5)}


def test_file_without_ts_defaults_to_mtime_floored_to_the_minute(
    lake: Lake, tmp_path: Path
) -> None:
    f = tmp_path / "snap.csv"
    f.write_text("channel,user\na,x\n")
    mtime = at(2023, 7, 8, 9, 10).timestamp() + 42.7
    os.utime(f, (mtime, mtime))
    import_presence(lake, [f])
    assert [r["ts"] for r in rows(lake)] == [at(2023, 7, 8, 9, 10)]


def test_many_files_one_commit_and_extra_columns_ignored(lake: Lake, tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("extra,ts,user,channel\nzz,2024-01-01T00:00:00Z,x,A\n")
    b = tmp_path / "b.csv"
    b.write_text("ts,channel,user\n2024-01-03T00:00:00Z,a,y\n")
    result = import_presence(lake, [a, b])
    assert result.rows_written == 2
    assert len(result.files) == 2  # two days → two partitions
    assert [r["channel"] for r in rows(lake)] == ["a", "a"]


def test_channels_import(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "channels.csv"
    f.write_text(
        "channel,game,language,viewers,title,display_name\n"
        'Foo,Chess,en,1200,"Hello, world",Foo\n'
        "bar,Just Chatting,de,,,\n"
    )
    result = import_channels(lake, [f], snapshot_time=at(2024, 1, 1, 12))
    assert result.rows_written == 2
    got = {r["channel"]: r for r in rows(lake, "channels")}
    assert got["foo"]["game"] == "Chess"
    assert got["foo"]["viewers"] == 1200
    assert got["foo"]["title"] == "Hello, world"
    assert got["bar"]["viewers"] is None
    assert got["bar"]["title"] is None
    assert got["bar"]["ts"] == at(2024, 1, 1, 12)
    assert import_channels(lake, [f], snapshot_time=at(2024, 1, 1, 12)).rows_written == 0


def test_channels_with_ts_column_and_parquet(lake: Lake, tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "ts": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"],
                "channel": ["a", "a"],
                "game": ["Chess", "Go"],
                "language": ["en", "en"],
                "viewers": [5, 7],
                "channel_id": [1, 1],
            }
        ),
        tmp_path / "c.parquet",
    )
    import_channels(lake, [tmp_path / "c.parquet"])
    assert [(r["game"], r["viewers"], r["channel_id"]) for r in rows(lake, "channels")] == [
        ("Chess", 5, "1"),
        ("Go", 7, "1"),
    ]


@pytest.mark.parametrize("platform", ["Twitch", "../x", "a/b", ""])
def test_platform_names_are_checked(lake: Lake, tmp_path: Path, platform: str) -> None:
    from vieweratlas.errors import InputError

    f = tmp_path / "p.csv"
    f.write_text("ts,channel,user\n2024-01-01T00:00:00Z,a,x\n")
    with pytest.raises(InputError, match="platform"):
        import_presence(lake, [f], platform=platform)


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.parquet", "p.jsonl"])
def test_progress_reports_every_byte(lake: Lake, tmp_path: Path, name: str) -> None:
    table = pa.table(
        {
            "ts": [f"2024-01-01T00:{i % 60:02d}:00Z" for i in range(5000)],
            "channel": [f"c{i % 7}" for i in range(5000)],
            "user": [f"u{i}" for i in range(5000)],
        }
    )
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(table, path)
    elif name.endswith(".jsonl"):
        path.write_text(
            "".join(
                f'{{"ts": "{r["ts"]}", "channel": "{r["channel"]}", "user": "{r["user"]}"}}\n'
                for r in table.to_pylist()
            )
        )
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, tmp_path / "tmp.csv")
        data = (tmp_path / "tmp.csv").read_bytes()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    seen: list[int] = []
    result = import_presence(lake, [path], progress=seen.append)
    assert result.rows_written == 5000
    assert all(n > 0 for n in seen)
    assert sum(seen) == pytest.approx(path.stat().st_size, rel=0.01)


def test_csv_with_bom_and_jsonl_with_leading_blank_lines(lake: Lake, tmp_path: Path) -> None:
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfts,channel,user\r\n2024-01-01T00:00:00Z,a,x\r\n")
    j = tmp_path / "p.jsonl"
    j.write_text('\n\n{"ts": "2024-01-01T00:05:00Z", "channel": "a", "user": "y"}\n')
    assert import_presence(lake, [bom, j]).rows_written == 2
    assert sorted(r["user"] for r in rows(lake)) == ["x", "y"]


def test_json_array_of_rows(lake: Lake, tmp_path: Path) -> None:
    from vieweratlas.errors import InputError

    f = tmp_path / "rows.json.gz"
    doc = [
        {"ts": "2024-01-01T00:00:00Z", "channel": "A", "user": "x", "messages": 3},
        {"ts": "2024-01-01T00:05:00", "channel": "a", "user": "y", "extra": {"k": [1]}},
    ]
    f.write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert detect_format(f) == "plain"
    assert import_presence(lake, [f]).rows_written == 2
    assert [(r["user"], r["messages"]) for r in rows(lake)] == [("x", 3), ("y", 0)]
    c = tmp_path / "channels.json"
    c.write_text(json.dumps([{"channel": "a", "game": "Chess", "language": "en", "viewers": 9}]))
    assert import_channels(lake, [c], snapshot_time=at(2024, 1, 1)).rows_written == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([*doc, {"ts": 5, "channel": "a", "user": "z"}]))
    with pytest.raises(InputError) as info:
        import_presence(lake, [bad])
    assert (info.value.line, info.value.field) == (3, "ts")
