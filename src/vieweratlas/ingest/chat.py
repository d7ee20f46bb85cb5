"""Chat files people already have → presence buckets: TwitchDownloader and chat-downloader.

Both are single JSON documents that can be hundreds of megabytes, so they are parsed as a
stream (``ijson``, C backend) through :mod:`vieweratlas.ingest.guard` (size, gzip-ratio and
nesting caps). Comments are bucketed in chunks with :func:`bucket_comments`; the partial
counts are summed in an on-disk DuckDB table, so neither the JSON nor the comments are ever
all in memory, and comments need not be sorted.

* TwitchDownloader (formats up to 1.4 and older): ``streamer.name``, ``video.created_at``
  (the VOD's start; older files without it: first comment's ``created_at`` minus its
  offset), ``comments[].content_offset_seconds``, ``comments[].commenter.name`` / ``_id``.
* chat-downloader: a JSON array of messages with ``author.name`` / ``author.id``,
  ``time_in_seconds`` (replays) and ``timestamp`` (epoch µs). Replays are bucketed from the
  broadcast start (``timestamp − time_in_seconds``), live captures on UTC multiples of the
  bucket length. The channel comes from ``ImportOptions.channel`` (``--channel``).
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ijson
import pyarrow as pa

from vieweratlas.config import parse_timestamp
from vieweratlas.errors import InputError, first_line
from vieweratlas.ingest.columns import RANGE_TEXT, ColumnError, out_of_range, show_time, to_names
from vieweratlas.ingest.guard import Progress, head, open_input
from vieweratlas.ingest.plain import ImportOptions
from vieweratlas.lake.duck import session
from vieweratlas.sources.common.buckets import bucket_comments

log = logging.getLogger(__name__)

CHUNK = 100_000  # comments bucketed at a time
MAX_SECONDS = 1e8  # offsets beyond ~3 years into a broadcast are corrupt
MAX_EPOCH_US = 4e15  # epoch microseconds up to the year 2096
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def looks_like_twitchdownloader(first: bytes) -> bool:
    text = first.lstrip()
    return (
        text[:1] == b"{"
        and (b'"comments"' in first or b'"FileInfo"' in first)
        and (b'"streamer"' in first or b'"video"' in first or b'"content_offset_seconds"' in first)
    )


def looks_like_chat_downloader(first: bytes) -> bool:
    text = first.lstrip()
    return text[:1] == b"[" and (b'"time_in_seconds"' in first or b'"author"' in first)


class _Buckets:
    """Sums per-chunk bucket counts on disk; yields the final presence rows."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vieweratlas-chat-")
        folder = self._dir.name
        self.con = session(
            f"{folder}/agg.duckdb", memory_limit="256MB", spill_dir=f"{folder}/spill"
        )
        self.con.execute(
            "CREATE TABLE parts (ts TIMESTAMPTZ, user VARCHAR, user_id VARCHAR, messages BIGINT)"
        )
        self.comments = 0
        self._closed = False

    def add(self, rows: pa.Table, comments: int) -> None:
        self.con.register("_part", rows)
        self.con.execute('INSERT INTO parts SELECT ts, "user", user_id, messages FROM _part')
        self.con.unregister("_part")
        self.comments += comments

    def rows(self, channel: str, source: str, platform: str) -> Iterator[pa.RecordBatch]:
        reader: pa.RecordBatchReader = self.con.sql(
            """
            SELECT ts, $channel AS channel, "user", max(user_id) AS user_id,
                   $source AS source, CAST(sum(messages) AS INTEGER) AS messages,
                   $platform AS platform
            FROM parts GROUP BY ts, "user"
            """,
            params={"channel": channel, "source": source, "platform": platform},
        ).to_arrow_reader(256_000)
        yield from reader

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.con.close()
        self._dir.cleanup()


class _Comments:
    """Collects (offset, user, user id) and flushes every CHUNK comments into buckets.

    User names follow the platform's rule (checked a chunk at a time); ``user_field`` names
    the field of the ``i``-th comment in errors.
    """

    def __init__(
        self,
        path: Path,
        opts: ImportOptions,
        channel: str,
        start: datetime,
        user_field: Callable[[int], str],
    ) -> None:
        self.path = path
        self.opts = opts
        self.channel = channel
        self.start = start
        self.user_field = user_field
        self.offsets: list[float] = []
        self.users: list[str] = []
        self.ids: list[str | None] = []
        self.index: list[int] = []  # position of each comment in the file
        self.agg = _Buckets()

    def add(self, i: int, offset: float, user: str, user_id: str | None) -> None:
        self.index.append(i)
        self.offsets.append(offset)
        self.users.append(user)
        self.ids.append(user_id)
        if len(self.offsets) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.offsets:
            return
        try:
            users, changed = to_names(pa.array(self.users, pa.string()), self.opts.rules, "user")
        except ColumnError as exc:
            field = self.user_field(self.index[exc.row])
            raise InputError(str(self.path), exc.problem, field=field) from None
        self.opts.notes.add_normalised("user", changed)
        rows = bucket_comments(
            channel=self.channel,
            start=self.start,
            offsets_s=pa.array(self.offsets, pa.float64()),
            users=users,
            user_ids=pa.array(self.ids, pa.string()),
            bucket_len=self.opts.bucket_len,
            source="vod",
            platform=self.opts.platform,
        )
        bad = out_of_range(rows["ts"])
        if bad is not None:
            raise InputError(
                str(self.path), f"comment time {show_time(rows['ts'][bad])} {RANGE_TEXT}"
            )
        self.agg.add(rows, len(self.offsets))
        self.offsets, self.users, self.ids, self.index = [], [], [], []

    def result(self) -> Iterator[pa.RecordBatch]:
        self.flush()
        try:
            yield from self.agg.rows(self.channel, "vod", self.opts.platform)
        finally:
            self.agg.close()


def _json_items(
    path: Path, prefix: str, opts: ImportOptions, progress: Progress | None = None
) -> Iterator[Any]:
    """Stream the values at ``prefix`` through the caps; malformed JSON → InputError."""
    f = open_input(path, opts.limits, progress=progress, json_depth=True)
    try:
        items: Iterator[Any] = ijson.items(f, prefix, use_float=True, buf_size=1 << 20)
        yield from items
    except ijson.JSONError as exc:
        detail = first_line(exc, 120)
        raise InputError(str(path), f"invalid JSON: {detail}") from None
    finally:
        f.close()


def _first(path: Path, prefix: str, opts: ImportOptions) -> Any:
    return next(iter(_json_items(path, prefix, opts)), None)


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: object, limit: float = MAX_SECONDS) -> float | None:
    """A finite number within ±``limit``, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) if abs(value) <= limit else None
    return None


def twitchdownloader_presence(
    path: Path, opts: ImportOptions, progress: Progress | None
) -> Iterator[pa.RecordBatch]:
    """Presence buckets (source ``vod``) of one TwitchDownloader chat JSON (or .json.gz)."""
    first = head(path, opts.limits)
    if first.lstrip()[:1] != b"{":
        raise InputError(str(path), "not a TwitchDownloader chat JSON (expected an object)")
    streamer = _first(path, "streamer", opts)
    video = _first(path, "video", opts)
    channel = opts.channel or (_text(streamer.get("name")) if isinstance(streamer, dict) else None)
    if channel is None:
        raise InputError(
            str(path), "the file names no channel; pass --channel", field="streamer.name"
        )
    channel = _channel_name(path, opts, channel, "streamer.name")
    start: datetime | None = None
    if isinstance(video, dict) and video.get("created_at") is not None:
        try:
            start = parse_timestamp(video["created_at"])
        except (ValueError, OverflowError, OSError) as exc:
            raise InputError(str(path), str(exc), field="video.created_at") from None
    if start is None:
        start = _start_from_first_comment(path, opts)
    comments = _Comments(path, opts, channel, start, lambda i: f"comments[{i}].commenter.name")
    skipped = 0
    try:
        for i, c in enumerate(_json_items(path, "comments.item", opts, progress)):
            if not isinstance(c, dict):
                raise InputError(str(path), "expected a comment object", field=f"comments[{i}]")
            offset = _number(c.get("content_offset_seconds"))
            if offset is None:
                raise InputError(
                    str(path),
                    "expected a number of seconds",
                    field=f"comments[{i}].content_offset_seconds",
                )
            commenter = c.get("commenter")
            if commenter is None:  # deleted accounts
                skipped += 1
                continue
            if not isinstance(commenter, dict):
                raise InputError(str(path), "expected an object", field=f"comments[{i}].commenter")
            name = _text(commenter.get("name")) or _text(commenter.get("display_name"))
            if name is None:
                raise InputError(
                    str(path), "comment without a user login", field=f"comments[{i}].commenter.name"
                )
            comments.add(i, offset, name, _text(commenter.get("_id")))
        if skipped:
            log.info("%s: skipped %d comment(s) of deleted accounts", path, skipped)
        yield from comments.result()
    finally:
        comments.agg.close()


def _channel_name(path: Path, opts: ImportOptions, name: str, field: str) -> str:
    """``name`` as the platform stores it; refused when the platform cannot have it."""
    try:
        arr, changed = to_names(pa.array([name]), opts.rules, "channel")
    except ColumnError as exc:
        raise InputError(str(path), exc.problem, field=field) from None
    opts.notes.add_normalised("channel", changed)
    return str(arr[0].as_py())


def _start_from_first_comment(path: Path, opts: ImportOptions) -> datetime:
    """Older files without ``video.created_at``: first comment's created_at − its offset."""
    c = _first(path, "comments.item", opts)
    if isinstance(c, dict):
        offset = _number(c.get("content_offset_seconds"))
        created = c.get("created_at")
        if offset is not None and created is not None:
            try:
                return datetime.fromtimestamp(parse_timestamp(created).timestamp() - offset, UTC)
            except (ValueError, OverflowError, OSError):
                pass
    raise InputError(
        str(path),
        "cannot tell when the VOD started (no video.created_at)",
        field="video.created_at",
    )


def chat_downloader_presence(
    path: Path, opts: ImportOptions, progress: Progress | None
) -> Iterator[pa.RecordBatch]:
    """Presence buckets (source ``vod``) of one chat-downloader JSON array of messages."""
    first = head(path, opts.limits)
    if first.lstrip()[:1] != b"[":
        raise InputError(str(path), "not a chat-downloader JSON (expected an array)")
    if not opts.channel:
        raise InputError(
            str(path), "chat-downloader files do not name their channel; pass --channel"
        )
    comments: _Comments | None = None
    start_us = 0
    replay = False
    try:
        for i, m in enumerate(_json_items(path, "item", opts, progress)):
            if not isinstance(m, dict):
                raise InputError(str(path), "expected a message object", field=f"[{i}]")
            author = m.get("author")
            name = (
                (_text(author.get("name")) or _text(author.get("display_name")))
                if isinstance(author, dict)
                else None
            )
            if name is None:
                raise InputError(str(path), "message without an author", field=f"[{i}].author.name")
            seconds = _number(m.get("time_in_seconds"))
            stamp = _number(m.get("timestamp"), MAX_EPOCH_US)
            if comments is None:
                replay = seconds is not None
                if seconds is not None and stamp is not None:
                    start_us = round(stamp - seconds * 1_000_000)
                elif seconds is not None and opts.snapshot_time is not None:
                    start_us = round(opts.snapshot_time.timestamp() * 1_000_000)
                elif stamp is None:
                    raise InputError(
                        str(path),
                        "no absolute time (pass --snapshot-time as the broadcast start)",
                        field=f"[{i}].timestamp",
                    )
                start = datetime.fromtimestamp(start_us / 1e6, UTC) if replay else EPOCH
                channel = _channel_name(path, opts, opts.channel, "--channel")
                comments = _Comments(path, opts, channel, start, lambda i: f"[{i}].author.name")
            if replay and seconds is None and stamp is not None:
                seconds = (stamp - start_us) / 1e6
            elif not replay:
                seconds = stamp / 1e6 if stamp is not None else None
            if seconds is None:
                raise InputError(
                    str(path), "message without a time", field=f"[{i}].time_in_seconds"
                )
            author_id = _text(author.get("id")) if isinstance(author, dict) else None
            if author_id is not None and opts.rules.normalize(name) is None:
                # YouTube authors: ``name`` is a display name, the channel id is the login.
                name = author_id
            comments.add(i, seconds, name, author_id)
        if comments is not None:
            yield from comments.result()
    finally:
        if comments is not None:
            comments.agg.close()
