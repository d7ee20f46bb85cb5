"""The GraphQL comments client: request shape, paging, duplicates, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from helix_server import FakeClock, FakeTwitch, Fault, running

from vieweratlas.config import load_settings
from vieweratlas.errors import TwitchError
from vieweratlas.sources.twitch.gql import SHA256, Comments, GqlClient, VideoUnavailable

pytestmark = pytest.mark.server


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    yield from running()


def fetch(
    fake: FakeTwitch, video_id: str, pages: list[tuple[float, int]] | None = None
) -> Comments:
    settings = load_settings(environ={}, overrides={"twitch": fake.twitch_settings()})

    async def go() -> Comments:
        async with GqlClient(settings.twitch, clock=FakeClock()) as gql:
            return await gql.video_comments(
                video_id, on_page=None if pages is None else lambda o, n: pages.append((o, n))
            )

    return asyncio.run(go())


def test_pages_through_cursor_and_drops_repeated_comments(fake: FakeTwitch) -> None:
    comments = [(float(i * 10), f"user{i % 4}") for i in range(20)]
    fake.add_comments("v1", comments)
    fake.gql_page, fake.gql_overlap = 3, 1  # each page repeats the last of the previous
    pages: list[tuple[float, int]] = []
    got = fetch(fake, "v1", pages)
    assert got.offsets_s == [c[0] for c in comments]
    assert got.users == [c[1] for c in comments]
    assert got.user_ids == [f"u-{c[1]}" for c in comments]
    hits = fake.hits("/gql")
    assert len(hits) == got.pages == 10  # 3 fresh on the first page, then 2 per page
    assert [n for _, n in pages] == sorted(n for _, n in pages)
    assert pages[-1] == (190.0, 20)
    first, second = (json.loads(h.body)[0] for h in hits[:2])
    assert first["operationName"] == "VideoCommentsByOffsetOrCursor"
    assert first["extensions"]["persistedQuery"] == {"version": 1, "sha256Hash": SHA256}
    assert first["variables"] == {"videoID": "v1", "contentOffsetSeconds": 0}
    assert set(second["variables"]) == {"videoID", "cursor"}
    assert hits[0].headers["Client-Id"]


def test_deleted_commenters_are_skipped(fake: FakeTwitch) -> None:
    fake.add_comments("v2", [(1.0, "alice"), (2.0, None), (3.0, "Bob")])
    got = fetch(fake, "v2")
    assert got.users == ["alice", "bob"]
    assert got.offsets_s == [1.0, 3.0]


def test_missing_video_is_unavailable(fake: FakeTwitch) -> None:
    with pytest.raises(VideoUnavailable, match="video nope: not available"):
        fetch(fake, "nope")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[{", "gql comments of video v3: answered with invalid JSON"),
        (
            b'[{"errors": [{"message": "failed integrity\\ncheck"}], "data": null}]',
            "gql comments of video v3: GraphQL error: failed integrity check",
        ),
        (
            b'[{"data": {"video": {"comments": {"edges": [{"node": {"id": "x",'
            b' "contentOffsetSeconds": -5}}]}}}}]',
            "gql comments of video v3: unexpected response at "
            "data.video.comments.edges.0.node.contentOffsetSeconds",
        ),
        (b"[]", "gql comments of video v3: expected one operation result, got 0"),
    ],
)
def test_bad_answers_are_one_line_errors(fake: FakeTwitch, body: bytes, message: str) -> None:
    fake.add_comments("v3", [(1.0, "alice")])
    fake.fail("/gql", Fault(200, body))
    with pytest.raises(TwitchError) as info:
        fetch(fake, "v3")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_5xx_on_a_page_is_retried(fake: FakeTwitch) -> None:
    fake.add_comments("v4", [(float(i), "x") for i in range(7)])
    fake.fail("/gql", Fault(502))
    assert len(fetch(fake, "v4")) == 7
