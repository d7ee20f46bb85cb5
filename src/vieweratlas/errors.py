"""The one exception hierarchy of ViewerAtlas.

Every error a user can cause (a bad file, a bad setting, an unreachable endpoint) is a
:class:`VieweratlasError` whose message is a single line that says what was wrong and where.
The CLI prints that line and exits with code 2; anything else is a bug and keeps its
traceback.

    VieweratlasError
    ├── ConfigError       a setting, preset, YAML file or environment variable is invalid
    ├── InputError        an imported file is malformed (names file, line and field)
    ├── LakeError         the lake cannot be read or written as asked
    ├── AnalysisError     the data cannot be analysed as asked (e.g. empty window)
    ├── TwitchError       a Twitch endpoint (IRC, Helix, GQL) failed or answered nonsense
    └── PlatformError     another platform's endpoint failed or sent something unusable
        ├── KickError     Kick's API, webhook deliveries or Pusher frames
        └── YouTubeError  YouTube's pages and live-chat continuations
"""

from __future__ import annotations

import re


class VieweratlasError(Exception):
    """Base class: a user-facing error with a one-line message."""

    def __str__(self) -> str:
        # Messages are one line by contract; collapse anything a caller let slip through.
        return " ".join(super().__str__().split())


class ConfigError(VieweratlasError):
    """A setting, preset, config file or environment variable is invalid."""


class InputError(VieweratlasError):
    """An input file is malformed; the message names the file, the line and the field."""

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = path
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem


class LakeError(VieweratlasError):
    """The lake cannot be read or written as asked."""


class AnalysisError(VieweratlasError):
    """The data cannot be analysed as asked."""


class TwitchError(VieweratlasError):
    """A Twitch endpoint failed, refused us, or answered something we cannot use."""


class PlatformError(VieweratlasError):
    """A streaming platform (other than Twitch) failed, refused us, or sent nonsense."""


class KickError(PlatformError):
    """Kick's API, a webhook delivery or a Pusher frame is unusable or refused."""


class YouTubeError(PlatformError):
    """A YouTube page or live-chat continuation is unusable or refused."""


MESSAGE_LIMIT = 200
"""How much of an outside value (a server's answer, a library's error, a name) a message
quotes: enough to recognise it, never a flood."""


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with
    ``…`` marking a cut. The one way messages quote outside text."""
    flat = " ".join(text[: limit * 4 + 64].split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret (any letter case) replaced by ``***``: run it on outside
    text (server messages, error bodies) before logging or quoting it, and before cutting
    it, so a cut never leaves part of a secret."""
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def first_line(exc: BaseException, limit: int = MESSAGE_LIMIT) -> str:
    """The first line of an exception's message (or its type's name), shortened."""
    text = str(exc)
    head = text.splitlines()[0] if text.strip() else type(exc).__name__
    return shorten(head, limit)
