"""The lake's guarantees, each checked on a local folder AND on S3 (see conftest.lake_url)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakedata import ROWS, T0, channels, presence

from vieweratlas.errors import LakeError
from vieweratlas.lake import PRESENCE, Lake
from vieweratlas.lake.schema import TS
from vieweratlas.lake.writer import WORKERS


def test_partition_layout(lake: Lake) -> None:
    result = lake.write("presence", presence(ROWS))
    assert result.rows_written == len(ROWS)
    files = lake.list_files("curated/presence")
    assert len(files) == 2
    pattern = re.compile(
        r"^curated/presence/platform=twitch/date=(\d{4}-\d{2}-\d{2})/part-\d{12}-\d{12}-[0-9a-f]{64}\.parquet$"
    )
    dates = sorted(m.group(1) for f in files if (m := pattern.match(f)))
    assert dates == ["2026-11-01", "2026-11-02"]
    assert sorted(result.files) == files
    # Partition columns live in the path only; the file holds exactly the file schema.
    with lake.fs.open_input_file(lake.path(files[0])) as f:
        schema = pq.read_schema(f)
    assert schema.names == PRESENCE.schema.names
    assert schema.field("ts").type == TS


def test_roundtrip_normalises_and_reads_back(lake: Lake) -> None:
    rows = [(T0, " Alpha ", "ANN"), (T0, "alpha", "bob")]
    lake.write("presence", presence(rows))
    table = lake.read("presence").sort_by([("user", "ascending")])
    assert table.column("channel").to_pylist() == ["alpha", "alpha"]
    assert table.column("user").to_pylist() == ["ann", "bob"]
    assert table.column("date").to_pylist() == ["2026-11-01"] * 2
    assert table.column("platform").to_pylist() == ["twitch"] * 2


def test_reingest_is_idempotent(lake: Lake) -> None:
    first = lake.write("presence", presence(ROWS))
    files = lake.list_files("curated/presence")
    again = lake.write("presence", presence(ROWS))
    assert (again.rows_in, again.rows_written, again.files) == (len(ROWS), 0, ())
    assert lake.list_files("curated/presence") == files
    # Overlapping input: a new file (the write never reads the partition), and readers
    # still see each key once.
    extra = (T0, "alpha", "eve")
    more = lake.write("presence", presence([*ROWS[:2], extra]))
    assert (more.rows_written, len(more.files)) == (3, 1)
    assert lake.read("presence").num_rows == first.rows_written + 1
    assert lake.sql("SELECT count(*) AS n FROM presence").to_pylist() == [{"n": 7}]
    # Duplicates inside one input collapse to one row.
    dup = lake.write("presence", presence([(T0, "delta", "x"), (T0, "delta", "x")]))
    assert dup.rows_written == 1


def test_failed_write_leaves_nothing(lake: Lake) -> None:
    with pytest.raises(RuntimeError, match="boom"), lake._atomic("raw/x/file.bin") as out:
        out.write(b"half a file")
        raise RuntimeError("boom")
    assert not lake.exists("raw/x/file.bin")
    assert lake.list_files("") == []


def test_invalid_rows_write_nothing(lake: Lake) -> None:
    bad = presence([*ROWS]).set_column(
        2, "user", pa.array(["a", None, "c", "d", "e", "f"], pa.string())
    )
    with pytest.raises(LakeError, match=r"row 2: field .user.: a value is required"):
        lake.write("presence", bad)
    assert lake.list_files("") == []
    assert lake.read("presence").num_rows == 0


def test_parquet_writer_failure_midway_leaves_nothing(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = pq.ParquetWriter.write_table

    def failing(self: pq.ParquetWriter, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        real(self, *args, **kwargs)
        raise OSError("disk gone")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="disk gone"):
        lake.write("presence", presence(ROWS))
    assert 1 <= calls <= WORKERS  # groups being written when it failed; no further one
    assert lake.list_all("") == []  # the staged files went too


def test_bytes_roundtrip_and_delete(lake: Lake) -> None:
    lake.write_bytes("analysis/run-1/summary.json", b'{"ok": true}')
    lake.write_bytes("analysis/run-1/summary.json", b'{"ok": 2}')  # overwrite, like rename
    assert lake.read_bytes("analysis/run-1/summary.json") == b'{"ok": 2}'
    assert lake.list_files("analysis") == ["analysis/run-1/summary.json"]
    lake.delete("analysis/run-1/summary.json")
    assert not lake.exists("analysis/run-1/summary.json")
    assert lake.list_files("analysis") == []


def test_read_since_until(lake: Lake) -> None:
    lake.write("presence", presence(ROWS))
    start = T0 + timedelta(minutes=5)
    mid = lake.read("presence", since=start, until=T0 + timedelta(minutes=10))
    assert sorted(mid.column("user").to_pylist()) == ["cat"]
    later = lake.read("presence", since=start)
    assert sorted(later.column("user").to_pylist()) == ["ann", "cat", "dan"]
    before = lake.read("presence", columns=["user"], until=start)
    assert before.column_names == ["user"]
    assert before.num_rows == 3


def test_sql_over_presence_and_channels(lake: Lake) -> None:
    lake.write("presence", presence(ROWS))
    lake.write(
        "channels",
        channels(
            [
                (T0, "alpha", "Chess", "en"),
                (T0, "beta", "Chess", "de"),
                (T0 + timedelta(minutes=10), "gamma", "Art", "en"),
            ]
        ),
    )
    out = lake.sql(
        """
        SELECT c.game, count(DISTINCT p.user) AS viewers
        FROM presence p JOIN channels c USING (channel)
        GROUP BY 1 ORDER BY 1
        """
    ).to_pylist()
    assert out == [{"game": "Art", "viewers": 2}, {"game": "Chess", "viewers": 3}]
    (dates,) = lake.sql("SELECT count(DISTINCT date) AS n FROM presence").to_pylist()
    assert dates == {"n": 2}
    with pytest.raises(LakeError, match="sql:"):
        lake.sql("SELECT nope FROM presence")


def test_empty_lake_reads_empty(lake: Lake) -> None:
    assert lake.read("presence").num_rows == 0
    assert lake.sql("SELECT count(*) AS n FROM channels").to_pylist() == [{"n": 0}]
    assert lake.list_files("curated") == []
    assert not lake.exists("curated/presence")
