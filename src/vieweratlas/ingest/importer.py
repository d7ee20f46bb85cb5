"""The format registry and the two import entry points, ``import_presence`` and ``import_channels``.

Every file is streamed in chunks into one :class:`~vieweratlas.lake.Stage`; only when all of
them were read and validated does ``commit`` write to the lake. Any problem raises an
:class:`~vieweratlas.errors.InputError` naming the file, line and field, and leaves the lake
exactly as it was.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.errors import InputError, first_line
from vieweratlas.ingest.chat import (
    chat_downloader_presence,
    looks_like_chat_downloader,
    looks_like_twitchdownloader,
    twitchdownloader_presence,
)
from vieweratlas.ingest.guard import Limits, Progress, head
from vieweratlas.ingest.interactions import interactions_presence, looks_like_interactions
from vieweratlas.ingest.plain import (
    DEFAULT_BASE_TIME,
    ImportOptions,
    channel_rows,
    plain_presence,
)
from vieweratlas.ingest.report import ImportResult, differing_channel_rows, import_result
from vieweratlas.ingest.tabular import check_text
from vieweratlas.lake import CHANNELS, PRESENCE, Lake, Stage, TableSpec, WriteResult

log = logging.getLogger(__name__)

Rows = Iterable[pa.Table | pa.RecordBatch]
STAGE_MEMORY = "768MB"  # per file group of the commit; staging itself streams to disk
Reader = Callable[[Path, ImportOptions, Progress | None], Rows]
PREFETCH = 2  # chunks read ahead of the one being spilled


@dataclass(frozen=True)
class PresenceFormat:
    """An importable presence format: how to recognise it and how to read it."""

    name: str
    summary: str
    read: Reader
    sniff: Callable[[bytes], bool]


FORMATS: dict[str, PresenceFormat] = {}


def register_format(fmt: PresenceFormat) -> PresenceFormat:
    """Add a presence format (``--format NAME``); later ones are sniffed first."""
    FORMATS[fmt.name] = fmt
    return fmt


register_format(
    PresenceFormat(
        "plain",
        "CSV / Parquet / JSON Lines with ts,channel,user[,user_id,messages]",
        plain_presence,
        lambda first: True,  # the fallback: its reader names what is missing
    )
)
register_format(
    PresenceFormat(
        "interactions",
        "Twitch interactions data set (Rappaz et al.): user_id,stream_id,streamer,start,stop",
        interactions_presence,
        looks_like_interactions,
    )
)
register_format(
    PresenceFormat(
        "chat-downloader",
        "chat-downloader JSON array of messages (needs --channel)",
        chat_downloader_presence,
        looks_like_chat_downloader,
    )
)
register_format(
    PresenceFormat(
        "twitchdownloader",
        "TwitchDownloader chat JSON (.json or .json.gz)",
        twitchdownloader_presence,
        looks_like_twitchdownloader,
    )
)


def detect_format(path: str | PathLike[str], limits: Limits | None = None) -> str:
    """The registered format a file looks like, from its first bytes (gzip looked through)."""
    p = Path(path)
    first = head(p, limits or Limits())
    if not first.startswith(b"PAR1"):
        check_text(p, first)
    for fmt in reversed(FORMATS.values()):
        if fmt.sniff(first):
            return fmt.name
    return "plain"  # pragma: no cover - plain sniffs everything


def import_presence(
    lake: Lake,
    paths: Sequence[str | PathLike[str]],
    *,
    fmt: str = "auto",
    platform: str = "twitch",
    snapshot_time: datetime | None = None,
    bucket_len: timedelta = timedelta(seconds=300),
    channel: str | None = None,
    base_time: datetime = DEFAULT_BASE_TIME,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import presence files (all or nothing) and return what the lake gained.

    ``fmt`` is a name in :data:`FORMATS` or ``auto``; ``snapshot_time`` dates files without
    a ``ts`` column (default: their mtime floored to the minute); ``bucket_len`` buckets chat
    files; ``channel`` names the channel of chat files that do not say; ``base_time`` is step
    0 of the interactions data set; ``progress`` receives bytes read as they are read.
    """
    opts = ImportOptions(
        platform=platform,
        snapshot_time=snapshot_time,
        bucket_len=bucket_len,
        channel=channel,
        base_time=base_time,
        limits=limits or Limits(),
    )
    if fmt != "auto" and fmt not in FORMATS:
        known = ", ".join(["auto", *FORMATS])
        raise InputError("--format", f"unknown format {fmt!r} (known: {known})")
    plan: list[tuple[Path, PresenceFormat]] = []
    for p in paths:
        name = detect_format(p, opts.limits) if fmt == "auto" else fmt
        log.info("%s: format %s", p, name)
        plan.append((Path(p), FORMATS[name]))
    result = _import(
        lake, PRESENCE, [(path, _reader(f.read, path, opts, progress)) for path, f in plan]
    )
    return import_result(result, opts.notes)


def import_channels(
    lake: Lake,
    paths: Sequence[str | PathLike[str]],
    *,
    platform: str = "twitch",
    snapshot_time: datetime | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import channel metadata files (``channel,game,language[,viewers,title]``...).

    Rows whose (ts, channel) already holds other values are counted in the result
    (``differing_rows``): readers keep one of them by a fixed rule, not by import order.
    """
    opts = ImportOptions(platform=platform, snapshot_time=snapshot_time, limits=limits or Limits())
    differing = 0

    def before_commit(staged: pa.Table) -> None:
        nonlocal differing
        differing = differing_channel_rows(staged, lake)

    result = _import(
        lake,
        CHANNELS,
        [(Path(p), _reader(channel_rows, Path(p), opts, progress)) for p in paths],
        before_commit,
    )
    return import_result(result, opts.notes, differing_rows=differing)


def _reader(
    read: Reader, path: Path, opts: ImportOptions, progress: Progress | None
) -> Callable[[], Rows]:
    return lambda: read(path, opts, progress)


def _import(
    lake: Lake,
    spec: TableSpec,
    files: list[tuple[Path, Callable[[], Rows]]],
    before_commit: Callable[[pa.Table], None] | None = None,
) -> WriteResult:
    """Stage every file, then commit; ``before_commit`` sees the staged rows (kept in memory
    only when it is given: channel metadata, which is small)."""
    if not files:
        raise InputError("(no files)", "nothing to import")
    kept: list[pa.Table] = []
    with Stage(spec, memory_limit=STAGE_MEMORY) as stage:
        for path, rows in files:
            before = stage.rows
            for batch in _prefetched(_guarded(path, rows)):
                stage.append(batch, source=str(path))
                if before_commit is not None:
                    kept.append(
                        pa.Table.from_batches([batch])
                        if isinstance(batch, pa.RecordBatch)
                        else batch
                    )
            log.info("%s: %d %s rows staged", path, stage.rows - before, spec.name)
        if before_commit is not None:
            before_commit(_normalised(kept, spec))
        return stage.commit(lake)


def _normalised(tables: list[pa.Table], spec: TableSpec) -> pa.Table:
    """Staged rows as the lake would store them (key columns trimmed and lower-cased)."""
    schema = pa.schema([*spec.schema, pa.field("platform", pa.string())])
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables(
        [t.select(schema.names).cast(schema) for t in tables], promote_options="permissive"
    )
    for name in (*spec.lower, "platform"):
        i = table.schema.get_field_index(name)
        table = table.set_column(
            i, name, pc.utf8_lower(pc.utf8_trim_whitespace(table.column(name)))
        )
    return table


def _guarded(path: Path, rows: Callable[[], Rows]) -> Iterator[pa.Table | pa.RecordBatch]:
    """Low-level read errors that slipped past the readers still become one-line InputErrors."""
    try:
        yield from rows()
    except (pa.ArrowException, OSError, UnicodeDecodeError, EOFError) as exc:
        if isinstance(exc, InputError):  # pragma: no cover - InputError is not OSError
            raise
        message = first_line(exc)
        raise InputError(str(path), f"cannot read: {message}") from None


def _prefetched(items: Iterator[pa.Table | pa.RecordBatch]) -> Iterator[pa.Table | pa.RecordBatch]:
    """``items`` read in a background thread, up to :data:`PREFETCH` ahead: reading and
    checking the next chunk overlaps spilling this one (both run in Arrow and NumPy, outside
    the GIL). An error on either side stops both; the reader's is raised here."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    worker = threading.Thread(target=produce, name="import-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = ahead.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()
