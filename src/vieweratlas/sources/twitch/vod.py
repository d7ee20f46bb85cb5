"""VOD chat replay → presence: recent archives of tracked channels, bucketed from their start.

For each tracked channel, Get Videos lists archives newer than ``vod.max_age_days`` with at
least ``vod.min_views`` views; each one not yet in the lake's ``vods`` table has its chat
replay fetched page by page (:mod:`vieweratlas.sources.twitch.gql`) and turned into presence rows of
``vod.bucket_len`` from the VOD's ``created_at`` (``source=vod``, message counts). A VOD's
presence is written first and its ``vods`` row after, so a run killed in between redoes that
one VOD on the next run, and presence writes are idempotent anyway: nothing duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.config import Settings
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TS, VODS
from vieweratlas.sources.common.buckets import bucket_comments
from vieweratlas.sources.common.http import Clock
from vieweratlas.sources.twitch.gql import GqlClient, VideoUnavailable
from vieweratlas.sources.twitch.helix import ChannelRef, HelixClient, resolve_channels
from vieweratlas.sources.twitch.models import Video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VodProgress:
    """Where one VOD's replay is: ``offset_s`` of ``length_s`` seconds read so far."""

    video_id: str
    channel: str
    index: int  # 1-based among the VODs this run processes
    total: int
    offset_s: float
    length_s: float
    comments: int
    done: bool = False


ProgressCallback = Callable[[VodProgress], None]


@dataclass(frozen=True)
class VodResult:
    channels: int
    listed: int  # archives that pass the age and views filters
    already_done: int  # skipped because the lake has them
    processed: tuple[str, ...]  # video ids replayed this run
    unavailable: tuple[str, ...]
    comments: int
    rows_written: int


def processed_videos(lake: Lake) -> set[str]:
    """Video ids the lake already holds the chat replay of."""
    table = lake.read("vods", columns=["video_id"])
    return {v for v in table.column("video_id").to_pylist() if v}


def vod_row(video: Video, channel: str, comments: int, rows: int, now: datetime) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([video.created_at], TS),
            "channel": [channel],
            "video_id": [video.id],
            "length_s": pa.array([int(video.length.total_seconds())], pa.int64()),
            "views": pa.array([video.view_count], pa.int64()),
            "comments": pa.array([comments], pa.int64()),
            "presence_rows": pa.array([rows], pa.int64()),
            "processed_at": pa.array([now], TS),
            "platform": ["twitch"],
        }
    ).select([*VODS.schema.names, "platform"])


async def list_vods(
    helix: HelixClient, refs: Sequence[ChannelRef], settings: Settings, now: datetime
) -> list[tuple[ChannelRef, Video]]:
    """Recent archives of ``refs`` that pass ``vod.max_age_days`` and ``vod.min_views``."""
    since = now - timedelta(days=settings.vod.max_age_days)
    out: list[tuple[ChannelRef, Video]] = []
    for ref in refs:
        for video in await helix.videos(ref.user_id, since=since):
            if video.view_count >= settings.vod.min_views and video.type == "archive":
                out.append((ref, video))
    return out


async def collect_vods_async(
    settings: Settings,
    lake: Lake,
    *,
    channels: Sequence[str] | None = None,
    top: int | None = None,
    now: datetime | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
) -> VodResult:
    """Replay the chat of recent VODs of the tracked channels into ``presence``."""
    now = now or datetime.now(UTC)
    done = processed_videos(lake)
    async with HelixClient(settings.twitch, clock=clock) as helix:
        refs = await resolve_channels(helix, channels=channels, top=top)
        listed = await list_vods(helix, refs, settings, now)
    todo = [(ref, v) for ref, v in listed if v.id not in done]
    log.info(
        "vod: %d channel(s), %d archive(s), %d already in the lake",
        len(refs),
        len(listed),
        len(listed) - len(todo),
    )
    processed: list[str] = []
    unavailable: list[str] = []
    comments_total = 0
    rows_total = 0
    async with GqlClient(settings.twitch, clock=clock) as gql:
        for index, (ref, video) in enumerate(todo, start=1):
            length = video.length.total_seconds()

            def report(
                offset: float,
                count: int,
                video: Video = video,
                ref: ChannelRef = ref,
                index: int = index,
                length: float = length,
            ) -> None:
                if progress is not None:
                    progress(
                        VodProgress(video.id, ref.login, index, len(todo), offset, length, count)
                    )

            report(0.0, 0)
            try:
                comments = await gql.video_comments(video.id, on_page=report)
            except VideoUnavailable as exc:
                log.warning("%s", exc)
                unavailable.append(video.id)
                continue
            presence = bucket_comments(
                channel=ref.login,
                start=video.created_at,
                offsets_s=pa.array(comments.offsets_s, pa.float64()),
                users=pa.array(comments.users, pa.string()),
                user_ids=pa.array(comments.user_ids, pa.string()),
                bucket_len=settings.vod.bucket_len,
                source="vod",
            )
            written = lake.write("presence", presence)
            lake.write("vods", vod_row(video, ref.login, len(comments), presence.num_rows, now))
            if progress is not None:
                progress(
                    VodProgress(
                        video.id, ref.login, index, len(todo), length, length, len(comments), True
                    )
                )
            processed.append(video.id)
            comments_total += len(comments)
            rows_total += written.rows_written
    return VodResult(
        channels=len(refs),
        listed=len(listed),
        already_done=len(listed) - len(todo),
        processed=tuple(processed),
        unavailable=tuple(unavailable),
        comments=comments_total,
        rows_written=rows_total,
    )


def collect_vods(
    settings: Settings,
    lake: Lake,
    *,
    channels: Sequence[str] | None = None,
    top: int | None = None,
    progress: ProgressCallback | None = None,
) -> VodResult:
    """Blocking wrapper of :func:`collect_vods_async` (for the CLI)."""
    return asyncio.run(
        collect_vods_async(settings, lake, channels=channels, top=top, progress=progress)
    )
