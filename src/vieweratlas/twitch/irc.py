"""Compatibility path for :mod:`vieweratlas.sources.twitch.irc` (``parse_line`` is a contract)."""

from __future__ import annotations

from vieweratlas.sources.twitch.irc import (
    LOGIN_RE,
    Message,
    UnsafeLineError,
    build_line,
    escape_tag_value,
    format_tags,
    normalize_login,
    parse_line,
    unescape_tag_value,
)

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
