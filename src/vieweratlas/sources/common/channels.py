"""Where the live collectors get their channel lists: a file, or a platform's top N.

Every name is untrusted: it is checked against its platform's one login rule
(:mod:`vieweratlas.platforms`; Twitch by default) before it can reach a protocol line or
a URL; bad names are skipped with a warning naming where they came from.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError, InputError
from vieweratlas.platforms import TWITCH, Platform

log = logging.getLogger(__name__)

__all__ = [
    "ChannelSource",
    "FileChannelSource",
    "StaticChannelSource",
    "ValidatedSource",
    "channel_source",
    "validate_channels",
]


@runtime_checkable
class ChannelSource(Protocol):
    """Anything that can say which channels to watch right now."""

    async def fetch(self) -> list[str]: ...


_LABEL = {"twitch": "Twitch", "kick": "Kick", "youtube": "YouTube"}


def _label(platform: Platform) -> str:
    return _LABEL.get(platform.name, platform.name)


def validate_channels(names: Iterable[str], origin: str, platform: Platform = TWITCH) -> list[str]:
    """Valid, lower-cased, de-duplicated logins in input order; warns about the others.

    ``origin`` names the source in warnings (``channels.txt``); item ``i`` is reported as
    ``origin:i`` (1-based).
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        login = platform.normalize(name) if isinstance(name, str) else None
        if login is None:
            log.warning("%s:%d: skipping %.40r: not a %s login", origin, i, name, _label(platform))
            continue
        if login not in seen:
            seen.add(login)
            out.append(login)
    return out


class FileChannelSource:
    """One channel login per line (the original ``channels.txt``); ``# …`` lines are comments.

    The file is re-read on every fetch, so editing it changes what is collected.
    """

    def __init__(self, path: Path | str, platform: Platform = TWITCH) -> None:
        self.path = Path(path)
        self.platform = platform

    def _read(self) -> list[str]:
        return read_channel_list(self.path, self.platform)

    async def fetch(self) -> list[str]:
        return await asyncio.to_thread(self._read)


_TAIL_COMMENT = re.compile(r"\s+#(?:\s.*)?$")


def parse_channel_list(text: str, origin: str, platform: Platform = TWITCH) -> list[str]:
    """Channel names from a channel list: one per line, ``# note`` lines and `` # note``
    tails (a ``#`` after a space and before a space or the end) are comments, ``#channel``
    (the IRC spelling) is a channel; ``JOIN #x`` is neither, and is skipped. Names follow the
    platform's one rule; a line that breaks it is skipped with a warning naming
    ``origin:line``. De-duplicated, in file order. The one parser of channel lists."""
    out: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _TAIL_COMMENT.sub("", raw).strip()
        if line.startswith("#") and not (line[1:2].isalnum() or line[1:2] == "_"):
            continue
        if not line:
            continue
        name = platform.normalize(line)
        if name is None:
            log.warning(
                "%s:%d: skipping %.40r: not a %s channel name", origin, number, line, platform.name
            )
            continue
        out.append(name)
    return list(dict.fromkeys(out))


def read_channel_list(
    path: Path, platform: Platform = TWITCH, *, require: bool = False
) -> list[str]:
    """:func:`parse_channel_list` of a file; with ``require``, a list with no channel at all
    is an ``InputError``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(str(path), f"cannot read channel list ({exc.strerror})") from None
    names = parse_channel_list(text, str(path), platform)
    if require and not names:
        raise InputError(str(path), f"no {platform.name} channel names in the file")
    return names


class StaticChannelSource:
    """A fixed list (tests, scripts); validated like any other source."""

    def __init__(self, channels: Iterable[str], platform: Platform = TWITCH) -> None:
        self.channels = validate_channels(channels, "channels", platform)

    async def fetch(self) -> list[str]:
        return list(self.channels)


class ValidatedSource:
    """Wraps a source whose names come from elsewhere (an API) and validates them."""

    def __init__(self, inner: ChannelSource, origin: str, platform: Platform = TWITCH) -> None:
        self.inner = inner
        self.origin = origin
        self.platform = platform

    async def fetch(self) -> list[str]:
        return validate_channels(await self.inner.fetch(), self.origin, self.platform)


def channel_source(
    settings: Settings, *, channels_file: Path | None = None, top: int | None = None
) -> ChannelSource:
    """The source the settings ask for: ``channels_file`` first, else the Helix top N."""
    path = channels_file or settings.collect.channels_file
    if path is not None and top is None:
        return FileChannelSource(path)
    if top is None:
        raise ConfigError("collect live needs --channels-file F or --top N")
    needs = "--top needs twitch.client_id and twitch.client_secret"
    if not settings.twitch.client_id or settings.twitch.client_secret is None:
        raise ConfigError(needs)
    try:
        from vieweratlas.sources.twitch.helix import top_channel_source  # written alongside
    except ImportError:
        raise ConfigError(needs + " (and the Helix client, not available here)") from None
    return ValidatedSource(top_channel_source(settings, top), "helix top")
