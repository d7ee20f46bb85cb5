"""Request parameters, checked before anything is looked up or any path is built.

Path parameters name things (a platform, a channel, a community, a run, a file): one that
cannot exist is a 404. Query parameters are options: a bad one is a 400 whose message says
which parameter and what it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vieweratlas.errors import VieweratlasError
from vieweratlas.platforms import PLATFORMS
from vieweratlas.runs import RUN_ID_RE
from vieweratlas.web.source import NotFound
from vieweratlas.web.tracking import LINEAGE_RE

__all__ = [
    "BadRequest",
    "channel_path",
    "community_path",
    "file_name",
    "int_param",
    "lineage_param",
    "page_param",
    "run_param",
    "run_path",
    "text_param",
]

COMMUNITY_RE = re.compile(r"-?[0-9]{1,9}")
FILE_RE = re.compile(r"[a-z][a-z0-9_]{0,40}\.(csv|parquet|json|gexf|html|png)")


class BadRequest(VieweratlasError):
    """A query parameter is malformed or out of range."""


def _cut(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "…"


def channel_path(platform: str, channel: str) -> tuple[str, str]:
    """``(platform, channel)`` if the platform is known and the name is one its login rule
    keeps as is; otherwise ``NotFound`` (no such channel can exist)."""
    known = PLATFORMS.get(platform)
    if known is None:
        raise NotFound(f"unknown platform {_cut(platform)!r} (known: {', '.join(PLATFORMS)})")
    if known.normalize(channel) != channel:
        raise NotFound(f"no {platform} channel {_cut(channel)!r}")
    return platform, channel


def community_path(value: str) -> int:
    if not COMMUNITY_RE.fullmatch(value):
        raise NotFound(f"no community {_cut(value)!r}")
    return int(value)


def run_path(value: str) -> str:
    if not RUN_ID_RE.fullmatch(value):
        raise NotFound(f"no run {_cut(value)!r}")
    return value


def file_name(value: str) -> str:
    if not FILE_RE.fullmatch(value):
        raise NotFound(f"no file {_cut(value)!r}")
    return value


def run_param(query: Mapping[str, str]) -> str | None:
    value = query.get("run")
    if value is None or value == "":
        return None
    if not RUN_ID_RE.fullmatch(value):
        raise BadRequest(f"run={_cut(value)!r} is not a run id (see /runs)")
    return value


def int_param(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value) or not lo <= int(value) <= hi:
        raise BadRequest(f"{name}={_cut(value)!r}: expected a whole number from {lo} to {hi}")
    return int(value)


def page_param(query: Mapping[str, str], name: str = "page") -> int | None:
    """A page number from 1, or ``all`` (None): every row on one page."""
    if query.get(name) == "all":
        return None
    value = query.get(name)
    if value is not None and value != "" and not re.fullmatch(r"[0-9]{1,9}", value):
        raise BadRequest(f"{name}={_cut(value)!r}: expected a page number from 1, or 'all'")
    return int_param(query, name, 1, 1, 1_000_000)


def text_param(query: Mapping[str, str], name: str, *, max_len: int = 100) -> str:
    value = query.get(name, "").strip()
    if len(value) > max_len:
        raise BadRequest(f"{name}: at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"{name}: control characters are not allowed")
    return value


def choice_param(
    query: Mapping[str, str], name: str, choices: tuple[str, ...], default: str
) -> str:
    value = query.get(name) or default
    if value not in choices:
        raise BadRequest(f"{name}={_cut(value)!r}: expected one of {', '.join(choices)}")
    return value


def lineage_param(query: Mapping[str, str]) -> str | None:
    value = query.get("lineage")
    if value is None or value == "":
        return None
    if not LINEAGE_RE.fullmatch(value):
        raise BadRequest(f"lineage={_cut(value)!r} is not a lineage id")
    return value
