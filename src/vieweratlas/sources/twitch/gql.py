"""Twitch's GraphQL endpoint, for the one thing Helix lacks: a VOD's chat replay.

The web player pages through a VOD's chat with the persisted query
``VideoCommentsByOffsetOrCursor``: the first request gives ``contentOffsetSeconds``, each
next one the ``cursor`` of the last edge, until ``pageInfo.hasNextPage`` is false. Requests
and answers are JSON arrays of one operation. Each comment has ``contentOffsetSeconds`` and
``commenter.login`` (null for deleted accounts). Comments repeated across pages are dropped
by id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from vieweratlas.config import TwitchSettings
from vieweratlas.errors import TwitchError, shorten
from vieweratlas.sources.common.http import Clock, RetryPolicy, client_transport, validate
from vieweratlas.sources.common.paging import Page, pages
from vieweratlas.sources.twitch.models import GqlEdge, GqlResponse

log = logging.getLogger(__name__)

OPERATION = "VideoCommentsByOffsetOrCursor"
SHA256 = "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a"
MAX_PAGES = 200_000  # ~20M comments: far beyond any VOD, bounds a looping server


@dataclass
class Comments:
    """One VOD's chat as columns: offsets from the start, commenter logins and ids."""

    offsets_s: list[float] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    user_ids: list[str | None] = field(default_factory=list)
    pages: int = 0

    def __len__(self) -> int:
        return len(self.offsets_s)


PageCallback = Callable[[float, int], None]  # (latest offset seconds, comments so far)


class VideoUnavailable(TwitchError):
    """The VOD is gone (deleted, expired or sub-only): GraphQL answers ``video: null``."""


class GqlClient:
    """Async client of the GraphQL comments endpoint (``twitch.gql_url``)."""

    def __init__(
        self,
        twitch: TwitchSettings,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.url = twitch.gql_url
        self.client_id = twitch.gql_client_id
        self.http = client_transport(
            twitch.request_deadline,
            clock=clock,
            policy=policy,
            transport=transport,
            timeout=timeout,
        )

    async def __aenter__(self) -> GqlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _page(self, video_id: str, cursor: str | None) -> GqlResponse:
        variables: dict[str, object] = {"videoID": video_id}
        if cursor is None:
            variables["contentOffsetSeconds"] = 0
        else:
            variables["cursor"] = cursor
        body = [
            {
                "operationName": OPERATION,
                "variables": variables,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": SHA256}},
            }
        ]
        what = f"gql comments of video {video_id}"

        def build() -> httpx.Request:
            return self.http.client.build_request(
                "POST", self.url, json=body, headers={"Client-Id": self.client_id}
            )

        response = await self.http.send(what, build)
        if response.status_code != 200:
            raise TwitchError(f"{what}: HTTP {response.status_code}")
        try:
            data = response.json()
        except (ValueError, RecursionError):
            raise TwitchError(f"{what}: answered with invalid JSON") from None
        if isinstance(data, list):
            if len(data) != 1:
                raise TwitchError(f"{what}: expected one operation result, got {len(data)}")
            data = data[0]
        answer = validate(data, GqlResponse, what)
        if answer.errors:
            message = shorten(answer.errors[0].message)
            raise TwitchError(f"{what}: GraphQL error: {message}")
        return answer

    async def video_comments(
        self, video_id: str, *, on_page: PageCallback | None = None
    ) -> Comments:
        """All comments of one VOD, page by page; raises :class:`VideoUnavailable`."""
        out = Comments()
        seen: set[str] = set()

        async def fetch(cursor: str | None) -> Page[GqlEdge]:
            answer = await self._page(video_id, cursor)
            out.pages += 1
            video = answer.data.video if answer.data else None
            if video is None:
                raise VideoUnavailable(f"video {video_id}: not available (deleted or private)")
            if video.comments is None:  # Twitch sometimes answers this; nothing to page
                return Page([], None)
            edges = video.comments.edges
            more = video.comments.pageInfo.hasNextPage and edges
            return Page(list(edges), edges[-1].cursor if more else None)

        def too_many() -> None:
            raise TwitchError(f"gql comments of video {video_id}: more than {MAX_PAGES} pages")

        async for page in pages(
            fetch, max_pages=MAX_PAGES, what=f"gql video {video_id}", on_limit=too_many
        ):
            fresh = 0
            for edge in page.items:
                node = edge.node
                if node.id in seen:
                    continue
                seen.add(node.id)
                fresh += 1
                if node.commenter is None:  # deleted account
                    continue
                out.offsets_s.append(node.contentOffsetSeconds)
                out.users.append(node.commenter.login)
                out.user_ids.append(node.commenter.id)
            if on_page is not None and page.items:
                on_page(page.items[-1].node.contentOffsetSeconds, len(out))
            if page.items and not fresh:
                log.warning("%s: page %d repeated earlier comments only", video_id, out.pages)
        log.info("video %s: %d comments in %d page(s)", video_id, len(out), out.pages)
        return out
