"""``import creators``: a creator map (``creator, platform, channel``) into the lake.

The map says which channels on different platforms belong to one creator; the analysis
merges them into one node (:mod:`vieweratlas.analysis.creators`). Every row is checked
before anything is written: ``platform`` must be known, ``channel`` must pass that
platform's rule (:mod:`vieweratlas.platforms`), ``creator`` must be a short printable name.
A channel may belong to one creator only, and a creator may have one channel per platform
(two channels of one platform share viewers by name and cannot be merged without counting
some twice). Any violation is an :class:`~vieweratlas.errors.InputError` naming the line;
nothing is written then.
"""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from pathlib import Path

import pyarrow as pa

from vieweratlas.errors import InputError
from vieweratlas.ingest.report import ImportResult
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import creator_rows
from vieweratlas.platforms import PLATFORMS

MAX_BYTES = 64 * 2**20
MAX_CREATOR = 100


def read_creators(path: Path) -> pa.Table:
    """The validated map: ``creator, platform, channel`` (channels as the platform stores
    them)."""
    where = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(where, f"larger than {MAX_BYTES // 2**20} MiB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(where, f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(where, "not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    cols = {name: header.index(name) for name in ("creator", "platform", "channel")
            if name in header}  # fmt: skip
    missing = [n for n in ("creator", "platform", "channel") if n not in cols]
    if missing:
        raise InputError(where, f"needs columns creator, platform, channel (missing {missing})",
                         line=1)  # fmt: skip
    owner: dict[tuple[str, str], str] = {}
    per_platform: dict[tuple[str, str], str] = {}
    rows: list[tuple[str, str, str]] = []
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) < len(header):
            raise InputError(where, f"expected {len(header)} fields", line=line)
        creator = record[cols["creator"]].strip()
        name = record[cols["platform"]].strip().lower()
        raw = record[cols["channel"]]
        if not creator or len(creator) > MAX_CREATOR or not creator.isprintable():
            raise InputError(where, f"creator must be 1-{MAX_CREATOR} printable characters",
                             line=line, field="creator")  # fmt: skip
        platform = PLATFORMS.get(name)
        if platform is None:
            raise InputError(where, f"unknown platform (known: {', '.join(PLATFORMS)})",
                             line=line, field="platform")  # fmt: skip
        channel = platform.normalize(raw)
        if channel is None:
            raise InputError(where, f"not a {name} channel name: {raw[:40]!r}", line=line,
                             field="channel")  # fmt: skip
        previous = owner.setdefault((name, channel), creator)
        if previous != creator:
            raise InputError(where, f"{name}/{channel} already belongs to {previous!r}",
                             line=line, field="creator")  # fmt: skip
        other = per_platform.setdefault((creator, name), channel)
        if other != channel:
            raise InputError(where, f"{creator!r} already has {name} channel {other!r} "
                             "(one channel per platform)", line=line, field="channel")  # fmt: skip
        rows.append((creator, name, channel))
    return pa.table(
        {
            "creator": pa.array([r[0] for r in rows], pa.string()),
            "platform": pa.array([r[1] for r in rows], pa.string()),
            "channel": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def import_creators(lake: Lake, path: Path) -> ImportResult:
    """Validate ``path`` completely, then write it to the lake's ``creators`` table."""
    result = lake.write("creators", creator_rows(read_creators(path)))
    return ImportResult(**{f.name: getattr(result, f.name) for f in fields(result)})


def read_map(lake: Lake) -> pa.Table:
    """The lake's creator map (``creator, platform, channel``; empty when none)."""
    table = lake.read("creators", columns=["creator", "platform", "channel"])
    return table.select(["creator", "platform", "channel"]) if table.num_rows else table
