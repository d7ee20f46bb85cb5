"""Importers: files people already have → validated presence / channel rows for the lake.

``import_presence`` and ``import_channels`` stream files of any size into the lake, all or
nothing; the formats live in :data:`FORMATS` (see :mod:`vieweratlas.ingest.importer`).
"""

from __future__ import annotations

from vieweratlas.ingest.guard import Limits
from vieweratlas.ingest.importer import (
    FORMATS,
    PresenceFormat,
    detect_format,
    import_channels,
    import_presence,
    register_format,
)
from vieweratlas.ingest.plain import DEFAULT_BASE_TIME, TIME_COLUMNS, ImportOptions
from vieweratlas.ingest.report import ImportResult

__all__ = [
    "DEFAULT_BASE_TIME",
    "FORMATS",
    "TIME_COLUMNS",
    "ImportOptions",
    "ImportResult",
    "Limits",
    "PresenceFormat",
    "detect_format",
    "import_channels",
    "import_presence",
    "register_format",
]
