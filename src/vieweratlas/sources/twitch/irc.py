"""IRC lines in and out: IRCv3 message parsing (a library contract) and safe line building.

``parse_line`` turns one received line into a :class:`Message` (tags unescaped per the
IRCv3 message-tags spec) and raises ``ValueError`` — and only that — on anything that is
not IRC. ``build_line`` is the only way the collector writes to a socket: it refuses CR, LF
and NUL anywhere, so no channel name, token or server-supplied string can smuggle a second
command into an outgoing line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vieweratlas.platforms import TWITCH

__all__ = [
    "LOGIN_RE",
    "Message",
    "UnsafeLineError",
    "build_line",
    "escape_tag_value",
    "format_tags",
    "normalize_login",
    "parse_line",
    "unescape_tag_value",
]

# Twitch logins (channel names are logins too): the one rule in vieweratlas.platforms.
LOGIN_RE = TWITCH.login_rule  # kept for callers of the compat path
_COMMAND_RE = re.compile(r"[A-Za-z]+|[0-9]{3}")
_TAG_KEY_RE = re.compile(r"\+?(?:[A-Za-z0-9.\-]+/)?[A-Za-z0-9\-]+")
_FORBIDDEN = ("\r", "\n", "\0")

_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE_OUT = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


class UnsafeLineError(ValueError):
    """An outgoing line would contain CR, LF or NUL (or be otherwise malformed)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: IRCv3 tags, optional source (prefix), command and parameters.

    ``params`` includes the trailing parameter (the one after `` :``) as its last item.
    """

    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    @property
    def nick(self) -> str | None:
        """The nick part of the source (``nick!user@host`` → ``nick``), if any."""
        if self.source is None:
            return None
        return self.source.split("!", 1)[0].split("@", 1)[0]

    @property
    def trailing(self) -> str | None:
        return self.params[-1] if self.params else None


def unescape_tag_value(value: str) -> str:
    """IRCv3 tag value unescaping: ``\\:`` ``\\s`` ``\\\\`` ``\\r`` ``\\n``; others drop the \\."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 < n:
                nxt = value[i + 1]
                out.append(_ESCAPES.get(nxt, nxt))
            i += 2  # a lone trailing backslash is dropped
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """Inverse of :func:`unescape_tag_value`."""
    return value.translate(_ESCAPE_OUT)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key:
            raise ValueError("empty tag key")
        tags[key] = unescape_tag_value(value) if sep else ""
    return tags


def parse_line(line: str) -> Message:
    """Parse one IRC line (with or without its CR LF); ``ValueError`` when it is not IRC."""
    if not isinstance(line, str):
        raise ValueError("an IRC line is text")
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    if "\r" in line or "\n" in line or "\0" in line:
        raise ValueError("CR, LF or NUL inside an IRC line")
    rest = line.lstrip(" ")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        tags = _parse_tags(raw)
        rest = rest.lstrip(" ")
    source: str | None = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            raise ValueError("empty source")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not command:
        raise ValueError("no command")
    if not _COMMAND_RE.fullmatch(command):
        raise ValueError("not an IRC command")
    params: list[str] = []
    while rest:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Message(command=command.upper(), params=params, tags=tags, source=source)


def format_tags(tags: Mapping[str, str]) -> str:
    """``{"a": "b c"}`` → ``@a=b\\sc`` (empty string for no tags); keys are validated."""
    if not tags:
        return ""
    parts = []
    for key, value in tags.items():
        if not _TAG_KEY_RE.fullmatch(key):
            raise UnsafeLineError(f"invalid tag key {key!r}")
        parts.append(f"{key}={escape_tag_value(value)}" if value else key)
    return "@" + ";".join(parts)


def build_line(
    command: str,
    *params: str,
    tags: Mapping[str, str] | None = None,
    source: str | None = None,
) -> str:
    """One outgoing line, ending in CR LF. Refuses CR/LF/NUL and malformed parameters.

    The last parameter becomes a trailing (``:``-prefixed) parameter when it needs to be
    (empty, contains a space or starts with ``:``); every other parameter must be a single
    non-empty word.
    """
    if not _COMMAND_RE.fullmatch(command):
        raise UnsafeLineError(f"invalid IRC command {command!r}")
    pieces: list[str] = []
    if tags:
        for value in tags.values():
            _check_safe(value, "tag value")
        pieces.append(format_tags(tags))
    if source is not None:
        _check_safe(source, "source")
        if not source or " " in source:
            raise UnsafeLineError("invalid source")
        pieces.append(":" + source)
    pieces.append(command)
    for i, param in enumerate(params):
        _check_safe(param, "parameter")
        last = i == len(params) - 1
        if last and (not param or " " in param or param.startswith(":")):
            pieces.append(":" + param)
        elif not param or " " in param or param.startswith(":"):
            raise UnsafeLineError("only the last parameter may be empty, contain spaces or a ':'")
        else:
            pieces.append(param)
    return " ".join(pieces) + "\r\n"


def _check_safe(text: str, what: str) -> None:
    for ch in _FORBIDDEN:
        if ch in text:
            # Never echo the text itself: it may be a secret (the PASS token).
            raise UnsafeLineError(f"{what} contains a forbidden character (CR, LF or NUL)")


def normalize_login(name: str) -> str | None:
    """A Twitch login, lower-cased, or None when ``name`` is not one (``#`` prefix allowed).

    The one Twitch rule, :data:`vieweratlas.platforms.TWITCH` (the importers use it too).
    """
    return TWITCH.normalize(name)
