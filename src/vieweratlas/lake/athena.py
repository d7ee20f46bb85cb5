"""Athena DDL for the lake's tables, derived from their Arrow schemas (one source of truth).

``CREATE EXTERNAL TABLE`` statements with partition projection on ``platform`` and ``date``
(no crawler, no ``MSCK REPAIR``), pointing at ``<lake>/<table path>/platform=…/date=…/``.
The CloudFormation template declares the same tables as Glue resources; tests check that
both agree with the schemas and with files the lake wrote.

Athena reads the files as they are, so a key written twice (two writers at once, an
overlapping import) counts twice there until ``lake compact`` merges the files. Each
time-keyed table therefore also gets a view ``<table>_unique`` that keeps one row per key
with the readers' own rule (:func:`~vieweratlas.lake.writer.dedup_window`); its window is
partitioned by ``platform`` and ``date`` too, so filters on them still prune partitions.
"""

from __future__ import annotations

import re

import pyarrow as pa

from vieweratlas.errors import LakeError
from vieweratlas.lake.s3 import parse_s3_url
from vieweratlas.lake.schema import PARTITION_SCHEMA, TABLES, TableSpec, sql_type
from vieweratlas.lake.writer import dedup_window

PLATFORMS = ("twitch", "kick", "youtube")
PROJECTION_START = "2020-01-01"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def hive_type(t: pa.DataType) -> str:
    """The Athena (Hive DDL) type of an Arrow type used in the lake."""
    try:
        return sql_type(t, "hive")
    except TypeError as exc:
        raise LakeError(str(exc)) from None


def create_table(spec: TableSpec, lake_url: str, *, database: str = "vieweratlas") -> str:
    """``CREATE EXTERNAL TABLE`` for one lake table on ``s3://bucket/prefix``."""
    if not lake_url.startswith("s3://"):
        raise LakeError(f"lake {lake_url!r}: Athena reads s3:// lakes only")
    parse_s3_url(lake_url)  # a valid bucket and key prefix …
    if "'" in lake_url or "$" in lake_url:  # … that cannot break out of the quoted DDL
        raise LakeError(f"lake {lake_url!r}: quotes and '$' are not allowed here")
    for name in (database, spec.name):
        if not _IDENT.match(name):
            raise LakeError(f"{name!r} is not a valid Athena identifier")
    base = f"{lake_url.rstrip('/')}/{spec.path}"
    columns = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in spec.schema)
    keys = ", ".join(f"`{f.name}` {hive_type(f.type)}" for f in PARTITION_SCHEMA)
    props = {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.platform.type": "enum",
        "projection.platform.values": ",".join(PLATFORMS),
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": f"{PROJECTION_START},NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": f"{base}/platform=${{platform}}/date=${{date}}/",
    }
    tblprops = ",\n".join(f"  '{k}' = '{v}'" for k, v in props.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{spec.name}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({keys})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{base}/'\n"
        f"TBLPROPERTIES (\n{tblprops}\n);\n"
    )


def create_view(spec: TableSpec, *, database: str = "vieweratlas") -> str:
    """``CREATE OR REPLACE VIEW <table>_unique``: the table with one row per key."""
    for name in (database, spec.name):
        if not _IDENT.match(name):
            raise LakeError(f"{name!r} is not a valid Athena identifier")
    columns = spec.full_schema.names
    partition, tiebreak = dedup_window(spec, columns)
    select = ", ".join(f'"{c}"' for c in columns)
    # ``date`` is a function of ``ts``: partitioning by it too changes nothing but lets
    # Athena push ``date``/``platform`` filters through the window (partition pruning).
    # Identifiers are checked above; columns come from the table specs.
    return (
        f'CREATE OR REPLACE VIEW "{database}"."{spec.name}_unique" AS\n'  # noqa: S608
        f"SELECT {select}\nFROM (\n"
        f'  SELECT *, row_number() OVER (PARTITION BY "date", {partition} '
        f"ORDER BY {tiebreak}) AS duplicate_rank\n"
        f'  FROM "{database}"."{spec.name}"\n)\nWHERE duplicate_rank = 1;\n'
    )


def create_tables(lake_url: str, *, database: str = "vieweratlas") -> str:
    """DDL for the database, every curated table (presence, channels, …) and the
    de-duplicating view of each time-keyed one."""
    if not _IDENT.match(database):
        raise LakeError(f"{database!r} is not a valid Athena identifier")
    parts = [f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"]
    curated = [spec for spec in TABLES.values() if spec.path.startswith("curated/")]
    for spec in curated:
        parts.append(create_table(spec, lake_url, database=database))
    for spec in curated:
        if "ts" in spec.key:
            parts.append(create_view(spec, database=database))
    return "\n".join(parts)
