"""Athena DDL for the lake's tables, derived from their Arrow schemas (one source of truth).

``CREATE EXTERNAL TABLE`` statements with partition projection on ``platform`` and ``date``
(no crawler, no ``MSCK REPAIR``), pointing at ``<lake>/<table path>/platform=…/date=…/``.
The CloudFormation template declares the same tables as Glue resources; tests check that
both agree with the schemas and with files the lake wrote.
"""

from __future__ import annotations

import re

import pyarrow as pa

from vieweratlas.errors import LakeError
from vieweratlas.lake.s3 import parse_s3_url
from vieweratlas.lake.schema import PARTITION_SCHEMA, TABLES, TableSpec, sql_type

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


def create_tables(lake_url: str, *, database: str = "vieweratlas") -> str:
    """DDL for the database and every curated table (presence, channels, …)."""
    if not _IDENT.match(database):
        raise LakeError(f"{database!r} is not a valid Athena identifier")
    parts = [f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"]
    for spec in TABLES.values():
        if spec.path.startswith("curated/"):
            parts.append(create_table(spec, lake_url, database=database))
    return "\n".join(parts)
