"""The Athena DDL printed by ``vieweratlas lake athena``: parsed back, it has the lake
schemas' columns and partition keys, agrees with the Glue tables in the CloudFormation
template, and DuckDB reads files the lake wrote with exactly the DDL's types."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from lakedata import ROWS, channels, presence

from vieweratlas.cli import main
from vieweratlas.errors import LakeError
from vieweratlas.lake import CHANNELS, PRESENCE, Lake, TableSpec
from vieweratlas.lake.athena import create_table, create_tables, create_view, hive_type
from vieweratlas.lake.schema import PARTITION_SCHEMA, TABLES, VODS

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "template.yaml"
DUCK = {"timestamp": "TIMESTAMP WITH TIME ZONE", "string": "VARCHAR", "int": "INTEGER",
        "bigint": "BIGINT"}  # fmt: skip


def parse_ddl(ddl: str) -> dict[str, Any]:
    """Columns, partition keys, location and properties of one CREATE EXTERNAL TABLE."""
    m = re.search(r"CREATE EXTERNAL TABLE IF NOT EXISTS `(\w+)`\.`(\w+)` \((.*?)\n\)", ddl, re.S)
    assert m, ddl
    cols = re.findall(r"`(\w+)` (\w+)", m.group(3))
    keys = re.findall(r"`(\w+)` (\w+)", re.search(r"PARTITIONED BY \((.*?)\)\n", ddl).group(1))  # type: ignore[union-attr]
    props = dict(re.findall(r"'([\w.]+)' = '([^']*)'", ddl))
    location = re.search(r"LOCATION '([^']*)'", ddl).group(1)  # type: ignore[union-attr]
    return {
        "table": m.group(2),
        "columns": cols,
        "keys": keys,
        "props": props,
        "location": location,
    }


@pytest.mark.parametrize("spec", [PRESENCE, CHANNELS])
def test_ddl_matches_schema(spec: TableSpec) -> None:
    ddl = parse_ddl(create_table(spec, "s3://bkt/lake"))
    assert ddl["table"] == spec.name
    assert ddl["columns"] == [(f.name, hive_type(f.type)) for f in spec.schema]
    assert ddl["keys"] == [(f.name, "string") for f in PARTITION_SCHEMA]
    assert ddl["location"] == f"s3://bkt/lake/{spec.path}/"
    assert ddl["props"]["storage.location.template"] == (
        f"s3://bkt/lake/{spec.path}/platform=${{platform}}/date=${{date}}/"
    )


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_mapping(node)
))  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "logical_id"),
    [(PRESENCE, "PresenceTable"), (CHANNELS, "ChannelsTable"), (VODS, "VodsTable")],
)
def test_ddl_agrees_with_the_glue_tables(spec: TableSpec, logical_id: str) -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    glue = template["Resources"][logical_id]["Properties"]["TableInput"]
    ddl = parse_ddl(create_table(spec, "s3://bkt/lake"))
    assert [(c["Name"], c["Type"]) for c in glue["StorageDescriptor"]["Columns"]] == ddl["columns"]
    assert [(k["Name"], k["Type"]) for k in glue["PartitionKeys"]] == ddl["keys"]
    for key, value in ddl["props"].items():
        glue_value = glue["Parameters"][key]
        if key == "storage.location.template":
            glue_value = glue_value.replace("${LakeBucket}", "bkt").replace("${!", "${")
        assert glue_value == value, key


def test_duckdb_reads_lake_files_with_the_ddl_types(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence(ROWS))
    t = datetime(2026, 11, 1, tzinfo=UTC)
    lake.write("channels", channels([(t, "alpha", "Chess", "en"), (t, "beta", "Art", "de")]))
    for spec in (PRESENCE, CHANNELS):
        ddl = parse_ddl(create_table(spec, "s3://bkt/lake"))
        files = [lake.path(f) for f in lake.list_files(spec.path)]
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone='UTC'")
            source = (
                f"read_parquet({files!r}, hive_partitioning=true, "
                "hive_types={'platform': 'VARCHAR', 'date': 'VARCHAR'})"
            )
            described = dict(
                (r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            )
        finally:
            con.close()
        expected = {n: DUCK[t] for n, t in ddl["columns"] + ddl["keys"]}
        assert described == expected, spec.name


@pytest.mark.parametrize(
    "url", ["/local/folder", "s3://Bad", "s3://bkt/it's", "s3://bkt/${x}", "s3://bkt/../x"]
)
def test_ddl_refuses_unsafe_or_local_lakes(url: str) -> None:
    with pytest.raises(LakeError):
        create_table(PRESENCE, url)


def test_cli_prints_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["lake", "athena", "--lake", "s3://bkt/lake", "--database", "atlas"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert out == create_tables("s3://bkt/lake", database="atlas")
    assert "CREATE DATABASE IF NOT EXISTS `atlas`;" in out
    tables = re.findall(r"CREATE EXTERNAL TABLE IF NOT EXISTS `atlas`\.`(\w+)`", out)
    assert {"presence", "channels"} <= set(tables)
    assert all(not t.startswith("irc") for t in tables)  # raw tables are not curated
    with pytest.raises(SystemExit) as exc:
        main(["lake", "athena", "--lake", "s3://bkt/lake", "--database", "bad-name"])
    assert exc.value.code == 2


def test_unique_views_keep_one_row_per_key_like_the_readers(tmp_path: Path) -> None:
    """Two writers' overlapping files hold keys twice; the Athena view (run by DuckDB, whose
    SQL accepts the same statement) sees each key once, the same row as ``Lake.read``."""
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write("presence", presence(ROWS))
    second = presence(ROWS[:4], source="import")  # same keys, another source: a duplicate
    second = second.set_column(5, "messages", pa.array([0, 3, 0, 0], pa.int32()))
    lake.write("presence", second)
    files = [lake.path(f) for f in lake.list_files(PRESENCE.path)]
    assert len(files) >= 3  # the overlap is really there
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("CREATE SCHEMA vieweratlas")
        con.execute(
            "CREATE VIEW vieweratlas.presence AS SELECT * FROM read_parquet("
            f"{files!r}, hive_partitioning=true, "
            "hive_types={'platform': 'VARCHAR', 'date': 'VARCHAR'})"
        )
        raw = con.execute("SELECT count(*) FROM vieweratlas.presence").fetchone()
        con.execute(create_view(PRESENCE))
        got = con.execute(
            'SELECT ts, platform, channel, "user", source, messages FROM '
            "vieweratlas.presence_unique"
        ).fetchall()
    finally:
        con.close()
    assert raw is not None and raw[0] == len(ROWS) + 4
    want = lake.read("presence").select(["ts", "platform", "channel", "user", "source", "messages"])
    assert sorted(got) == sorted(tuple(r.values()) for r in want.to_pylist())
    assert len(got) == len(ROWS)
    # The readers' rule: most messages wins (the second writer's row for bob in alpha).
    assert ("import", 3) in {(r[4], r[5]) for r in got}


def test_ddl_has_a_unique_view_per_time_keyed_table() -> None:
    ddl = create_tables("s3://bkt/lake")
    views = re.findall(r'CREATE OR REPLACE VIEW "vieweratlas"\."(\w+)"', ddl)
    assert views == [f"{s.name}_unique" for s in TABLES.values()
                     if s.path.startswith("curated/") and "ts" in s.key]  # fmt: skip
    assert "presence_unique" in views
