"""The Glue/Athena tables in the template describe exactly what the lake writes: same
columns and types as ``vieweratlas.lake.schema``, same partition keys, and a partition
projection whose location template lands on the directories the code creates. Checked by
querying files written by ``Lake.write`` with DuckDB using the tables' schema."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from deploytools import resources

from vieweratlas.lake import CHANNELS, PRESENCE, Lake, TableSpec
from vieweratlas.lake.schema import PARTITION_SCHEMA, TS, VODS
from vieweratlas.lake.schema import TABLES as LAKE_TABLES

# Glue (Hive) type → the Arrow type the lake writes → the type DuckDB reads from the file.
GLUE_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "timestamp": (TS, "TIMESTAMP WITH TIME ZONE"),
    "string": (pa.string(), "VARCHAR"),
    "int": (pa.int32(), "INTEGER"),
    "bigint": (pa.int64(), "BIGINT"),
}
TABLES = {"PresenceTable": PRESENCE, "ChannelsTable": CHANNELS}  # with data written below
ALL_TABLES = {**TABLES, "VodsTable": VODS}
T0 = datetime(2026, 11, 1, 23, 55, tzinfo=UTC)


def _glue(logical_id: str) -> dict[str, Any]:
    table: dict[str, Any] = resources("AWS::Glue::Table")[logical_id]["TableInput"]
    return table


def test_every_curated_table_has_a_glue_table() -> None:
    curated = {s.name for s in LAKE_TABLES.values() if s.path.startswith("curated/")}
    glue = {t["TableInput"]["Name"] for t in resources("AWS::Glue::Table").values()}
    assert glue == curated


@pytest.mark.parametrize(("logical_id", "spec"), ALL_TABLES.items())
def test_columns_match_lake_schema(logical_id: str, spec: TableSpec) -> None:
    table = _glue(logical_id)
    assert table["Name"] == spec.name
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert [n for n, _ in columns] == spec.schema.names
    for name, glue_type in columns:
        assert GLUE_TYPES[glue_type][0] == spec.schema.field(name).type, name
    keys = [(k["Name"], k["Type"]) for k in table["PartitionKeys"]]
    assert keys == [(f.name, "string") for f in PARTITION_SCHEMA]
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde.endswith("ParquetHiveSerDe")


def _rows() -> dict[str, pa.Table]:
    ts = pa.array([T0, T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5)], TS)
    presence = pa.table(
        {
            "ts": ts,
            "channel": ["alpha", "beta", "alpha", "beta"],
            "user": ["ann", "ann", "bob", "cat"],
            "user_id": pa.array(["1", None, "2", None], pa.string()),
            "source": ["irc"] * 4,
            "messages": pa.array([3, 0, 1, 2], pa.int32()),
            "platform": ["twitch"] * 4,
        }
    )
    channels = pa.table(
        {
            "ts": ts.slice(0, 2),
            "channel": ["alpha", "beta"],
            "channel_id": ["10", "20"],
            "display_name": ["Alpha", "Beta"],
            "game": ["Chess", "Art"],
            "language": ["en", "de"],
            "viewers": pa.array([120, 45], pa.int64()),
            "title": ["t1", "t2"],
            "platform": ["twitch"] * 2,
        }
    )
    return {"presence": presence, "channels": channels}


@pytest.fixture
def written(tmp_path: Path) -> Lake:
    lake = Lake.open(str(tmp_path / "lake"))
    for name, table in _rows().items():
        lake.write(name, table)
    return lake


def _render(template: str, bucket: str, platform: str, date: str) -> str:
    """What Athena does with storage.location.template after CloudFormation's !Sub."""
    after_sub = template.replace("${LakeBucket}", bucket).replace("${!", "${")
    return after_sub.replace("${platform}", platform).replace("${date}", date)


@pytest.mark.parametrize(("logical_id", "spec"), TABLES.items())
def test_projection_lands_on_written_partitions(
    written: Lake, logical_id: str, spec: TableSpec
) -> None:
    params = _glue(logical_id)["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.date.format"] == "yyyy-MM-dd"
    platforms = params["projection.platform.values"].split(",")
    start = params["projection.date.range"].split(",")[0]
    location = _glue(logical_id)["StorageDescriptor"]["Location"]["Fn::Sub"]
    template = params["storage.location.template"]["Fn::Sub"]
    dirs = {f.rsplit("/", 1)[0] for f in written.list_files(spec.path)}
    assert dirs  # the lake wrote partitions for this table
    for d in dirs:
        m = re.fullmatch(rf"{spec.path}/platform=([a-z]+)/date=(\d{{4}}-\d{{2}}-\d{{2}})", d)
        assert m, d
        platform, date = m.groups()
        assert platform in platforms
        assert date >= start
        url = _render(template, "bkt", platform, date)
        assert url == f"s3://bkt/lake/{d}/"
        assert url.startswith(location.replace("${LakeBucket}", "bkt"))


@pytest.mark.parametrize(("logical_id", "spec"), TABLES.items())
def test_duckdb_reads_written_files_with_the_glue_schema(
    written: Lake, logical_id: str, spec: TableSpec
) -> None:
    table = _glue(logical_id)
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    keys = [k["Name"] for k in table["PartitionKeys"]]
    files = [written.path(f) for f in written.list_files(spec.path)]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        hive_types = ", ".join(f"'{k}': 'VARCHAR'" for k in keys)  # Glue: string keys
        source = f"read_parquet({files!r}, hive_partitioning=true, hive_types={{{hive_types}}})"
        # Everything in the files is declared, nothing declared is missing.
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        names = [r[0] for r in described]
        assert names[: len(columns)] == [n for n, _ in columns]
        assert sorted(names[len(columns) :]) == sorted(keys)
        # Each declared column reads with the type its Glue type promises.
        for (name, glue_type), row in zip(columns, described, strict=False):
            assert row[1] == GLUE_TYPES[glue_type][1], name
        select = ", ".join(f'"{n}"' for n, _ in columns) + ", " + ", ".join(keys)
        got = con.execute(f"SELECT {select} FROM {source} ORDER BY ALL").fetchall()
    finally:
        con.close()
    lake_rows = written.sql(f"SELECT {select} FROM {spec.name} ORDER BY ALL")
    assert got == [tuple(r.values()) for r in lake_rows.to_pylist()]
    assert {r[-1] for r in got} == {"2026-11-01", "2026-11-02"} or spec is CHANNELS


def test_athena_style_query_over_written_files(written: Lake) -> None:
    """A query as one would run it in Athena (quoted "user", partition filter on date)."""
    files = [written.path(f) for f in written.list_files("curated/presence")]
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"""
            SELECT channel, count(DISTINCT "user") AS viewers
            FROM read_parquet({files!r}, hive_partitioning=true,
                              hive_types={{'platform': 'VARCHAR', 'date': 'VARCHAR'}})
            WHERE platform = 'twitch' AND date BETWEEN '2026-11-01' AND '2026-11-02'
            GROUP BY channel ORDER BY channel
            """
        ).fetchall()
    finally:
        con.close()
    assert rows == [("alpha", 2), ("beta", 2)]
