"""The public Twitch interactions data set (Rappaz, McAuley & Aberer, RecSys 2021).

Headerless CSV ``user_id,stream_id,streamer,start,stop``; ``start``/``stop`` count 10-minute
steps from the start of the crawl. Each step in ``[start, stop)`` becomes one presence row at
``base_time + step × 10 min`` (a row with ``stop == start`` still yields its one step). The
data set does not publish the crawl's wall-clock start, so ``base_time`` defaults to
2019-01-01T00:00:00Z (``--base-time`` to change it). Expansion is vectorised (``np.repeat``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.errors import InputError
from vieweratlas.ingest.columns import (
    MAX_TIME,
    MIN_TIME,
    RANGE_TEXT,
    ColumnError,
    column_error,
    to_counts,
    to_names,
)
from vieweratlas.ingest.guard import Progress, head
from vieweratlas.ingest.plain import ImportOptions
from vieweratlas.ingest.tabular import check_text, csv_named_chunks
from vieweratlas.lake.schema import TS

COLUMNS = ["user_id", "stream_id", "streamer", "start", "stop"]
STEP_US = 10 * 60 * 1_000_000
MAX_STEPS = 1_000_000  # one row spanning more than ~19 years of steps is corrupt
_LINE_RE = re.compile(rb"^[^,\n]*,[^,\n]*,[^,\n]*,\s*\d+\s*,\s*\d+\s*\r?$")


def looks_like_interactions(first: bytes) -> bool:
    """Five-field lines ending in two integers (after an optional header line)."""
    lines = [ln for ln in first.split(b"\n")[:5] if ln.strip()]
    if lines and _has_header(lines[0]):
        lines = lines[1:]
    if len(first) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return bool(lines) and all(_LINE_RE.match(ln) for ln in lines)


def _us(t: datetime) -> int:
    return round(t.timestamp() * 1_000_000)


def _has_header(line: bytes) -> bool:
    """The data set ships without a header; copies sometimes add ``user_id,stream_id,...``."""
    return line.strip().lower().replace(b" ", b"").startswith(b"user_id,stream_id,")


def interactions_presence(
    path: Path, opts: ImportOptions, progress: Progress | None
) -> Iterator[pa.Table]:
    """Presence rows of one interactions file, chunk by chunk (source ``import``)."""
    first = head(path, opts.limits)
    check_text(path, first)
    header = _has_header(first.lstrip().split(b"\n", 1)[0])
    base_us = round(opts.base_time.timestamp() * 1_000_000)
    # Steps whose time would leave the sane range (or overflow int64 µs) are refused.
    first_step = -((base_us - _us(MIN_TIME)) // STEP_US)
    last_step = -((base_us - _us(MAX_TIME)) // STEP_US) - 1
    for chunk in csv_named_chunks(path, COLUMNS, opts.limits, progress, header=header):
        table = chunk.table
        try:
            field = "user_id"
            users, changed = to_names(table["user_id"], opts.rules, "user")
            opts.notes.add_normalised("user", changed)
            field = "streamer"
            streamers, changed = to_names(table["streamer"], opts.rules, "channel")
            opts.notes.add_normalised("channel", changed)
            field = "start"
            start = to_counts(table["start"], pa.int64(), default=None)
            field = "stop"
            stop = to_counts(table["stop"], pa.int64(), default=None)
            for name, arr in (("start", start), ("stop", stop)):
                field = name
                if arr.null_count:
                    raise ColumnError(
                        int(pc.index(pc.is_null(arr), True).as_py()), "missing step number"
                    )
        except ColumnError as exc:
            raise column_error(str(path), field, exc, chunk.line_of) from None
        starts = start.to_numpy()
        stops = stop.to_numpy()
        counts = stops - starts
        bad = np.flatnonzero((counts < 0) | (counts > MAX_STEPS))
        if len(bad):
            row = int(bad[0])
            raise InputError(
                str(path),
                f"stop {stops[row]} is before start {starts[row]} or implausibly far after it",
                line=chunk.line_of(row),
                field="stop",
            )
        outside = np.flatnonzero(
            (starts < first_step) | (starts > last_step) | (stops > last_step + 1)
        )
        if len(outside):
            row = int(outside[0])
            raise InputError(
                str(path),
                f"steps {starts[row]}-{stops[row]} from --base-time "
                f"{opts.base_time:%Y-%m-%dT%H:%M:%SZ} are {RANGE_TEXT}",
                line=chunk.line_of(row),
                field="start" if starts[row] < first_step or starts[row] > last_step else "stop",
            )
        counts = np.maximum(counts, 1)
        idx = np.repeat(np.arange(len(counts)), counts)
        # Step of each output row: its row's start plus its position within that row's run.
        run_start = np.repeat(np.cumsum(counts) - counts, counts)
        steps = starts[idx] + (np.arange(len(idx)) - run_start)
        take = pa.array(idx)
        n = len(idx)
        user_arr = users.take(take)
        yield pa.table(
            {
                "ts": pa.array(base_us + steps * STEP_US, pa.timestamp("us")).cast(TS),
                "channel": streamers.take(take),
                "user": user_arr,
                "user_id": user_arr,
                "source": pa.repeat("import", n),
                "messages": pa.array(np.zeros(n, dtype=np.int32)),
                "platform": pa.repeat(opts.platform, n),
            }
        )
