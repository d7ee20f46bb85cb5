"""The Parquet data lake (local folder or object store) and its table schemas."""

from __future__ import annotations

from vieweratlas.lake.schema import CHANNELS, PRESENCE, TABLES, TableSpec
from vieweratlas.lake.store import Lake
from vieweratlas.lake.writer import Stage, WriteResult

__all__ = ["CHANNELS", "PRESENCE", "TABLES", "Lake", "Stage", "TableSpec", "WriteResult"]
