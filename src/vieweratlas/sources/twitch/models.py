"""Typed records for what Helix and GraphQL answer, validated at the boundary.

Every response body is parsed into these frozen pydantic models before anything else looks
at it, so the rest of the program never handles a raw dict from Twitch. Logins are checked
against Twitch's alphabet and lower-cased; free text (titles, game names) is kept as text and
capped in length, and is escaped wherever it is rendered.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vieweratlas.platforms import TWITCH

_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MAX_TEXT = 1000


def check_login(value: str) -> str:
    """A channel or user login as Twitch's one rule stores it (:data:`TWITCH`); raises
    ValueError when Twitch cannot have it."""
    login = TWITCH.normalize(value)
    if login is None:
        raise ValueError(f"not a Twitch login: {value[:60]!r}")
    return login


def _cap(value: str) -> str:
    return value[:MAX_TEXT]


Login = Annotated[str, AfterValidator(check_login)]
Text = Annotated[str, AfterValidator(_cap)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def parse_twitch_duration(text: str) -> timedelta:
    """Helix video durations look like ``3h8m33s`` (each part optional)."""
    m = _DURATION_RE.match(text.strip())
    if not m or not any(m.groups()):
        raise ValueError(f"not a Twitch duration: {text[:40]!r}")
    h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(hours=h, minutes=mi, seconds=s)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------- OAuth


class TokenResponse(_Record):
    """``POST /oauth2/token`` (client credentials)."""

    access_token: str = Field(min_length=1, max_length=4096)
    expires_in: int = Field(ge=0)
    token_type: str = "bearer"  # noqa: S105 - a token kind, not a secret


# ---------------------------------------------------------------- Helix


class Pagination(_Record):
    cursor: str | None = Field(None, max_length=4096)


class Stream(_Record):
    """One live stream from Get Streams."""

    id: Id
    user_id: Id
    user_login: Login
    user_name: Text = ""
    game_id: str = ""
    game_name: Text = ""
    type: str = "live"
    title: Text = ""
    viewer_count: int = Field(ge=0)
    started_at: datetime | None = None
    language: str = Field("", max_length=16)


class User(_Record):
    """One user from Get Users."""

    id: Id
    login: Login
    display_name: Text = ""
    type: str = ""
    broadcaster_type: str = ""


class Video(_Record):
    """One video from Get Videos."""

    id: Id
    stream_id: str | None = None
    user_id: Id
    user_login: Login
    user_name: Text = ""
    title: Text = ""
    created_at: datetime
    published_at: datetime | None = None
    viewable: str = "public"
    view_count: int = Field(ge=0)
    language: str = Field("", max_length=16)
    type: str = "archive"
    duration: str = "0s"

    @property
    def length(self) -> timedelta:
        try:
            return parse_twitch_duration(self.duration)
        except ValueError:
            return timedelta(0)


class Chatter(_Record):
    """One connected chatter from Get Chatters."""

    user_id: Id
    user_login: Login
    user_name: Text = ""


class StreamsPage(_Record):
    data: list[Stream]
    pagination: Pagination = Pagination()


class UsersPage(_Record):
    data: list[User]


class VideosPage(_Record):
    data: list[Video]
    pagination: Pagination = Pagination()


class ChattersPage(_Record):
    data: list[Chatter]
    pagination: Pagination = Pagination()
    total: int | None = None


# ---------------------------------------------------------------- GraphQL comments


class GqlCommenter(_Record):
    id: str | None = None
    login: Login
    displayName: Text | None = None  # Twitch's field names are camelCase


class GqlCommentNode(_Record):
    id: str = Field(min_length=1, max_length=128)
    commenter: GqlCommenter | None = None  # null for deleted accounts
    contentOffsetSeconds: float = Field(ge=0)


class GqlEdge(_Record):
    cursor: str | None = Field(None, max_length=4096)
    node: GqlCommentNode


class GqlPageInfo(_Record):
    hasNextPage: bool = False


class GqlComments(_Record):
    edges: list[GqlEdge]
    pageInfo: GqlPageInfo = GqlPageInfo()


class GqlVideo(_Record):
    id: str | None = None
    comments: GqlComments | None = None


class GqlData(_Record):
    video: GqlVideo | None = None


class GqlError(_Record):
    message: str = ""


class GqlResponse(_Record):
    """One operation's answer from the GraphQL endpoint."""

    data: GqlData | None = None
    errors: list[GqlError] | None = None
