"""The platforms ViewerAtlas knows, each described once: name, login rule, settings, tables.

A channel's identity is ``(platform, channel)`` and a viewer's ``(platform, user)``. Every
place that accepts a channel or user name (importers, collectors, channel lists, the CLI)
checks it with the platform's one rule here, so a name the importer keeps is a name the
collector would keep, and the other way round. Pure: no I/O, nothing registered at import
time (the set of platforms is this module's literal ``PLATFORMS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    """What the rest of the program needs to know about one streaming platform."""

    name: str
    login_rule: re.Pattern[str]  # a channel or user name, after normalisation (fullmatch)
    case_insensitive: bool  # names are lower-cased before the rule is applied
    settings_section: str  # the settings section holding its credentials and endpoints
    sources: tuple[str, ...]  # values of presence ``source`` its collectors write
    side_tables: tuple[str, ...] = ()  # lake tables besides presence/channels it writes
    strip_prefixes: tuple[str, ...] = ()  # unambiguous decorations removed before the rule

    def normalize(self, name: str) -> str | None:
        """``name`` as stored (prefix stripped, case folded), or None if the platform can't
        have it. Surrounding whitespace is removed; anything else is checked as is."""
        login = name.strip()
        for prefix in self.strip_prefixes:
            login = login.removeprefix(prefix)
        if self.case_insensitive:
            if not login.isascii():  # lower() would fold look-alikes: KELVIN SIGN → "k"
                return None
            login = login.lower()
        return login if self.login_rule.fullmatch(login) else None


TWITCH = Platform(
    name="twitch",
    # Twitch logins: ASCII letters, digits and underscore, at most 25 characters (legacy
    # accounts may be shorter than today's 4-character minimum).
    login_rule=re.compile(r"[a-z0-9_]{1,25}"),
    case_insensitive=True,
    settings_section="twitch",
    sources=("irc", "vod", "chatters"),
    side_tables=("irc_seen", "vods"),
    strip_prefixes=("#",),
)

KICK = Platform(
    name="kick",
    # Kick channel slugs and usernames: letters, digits, underscore and hyphen (slugs turn
    # a username's underscore into a hyphen), at most 25 characters.
    login_rule=re.compile(r"[a-z0-9_-]{1,25}"),
    case_insensitive=True,
    settings_section="kick",
    sources=("webhook", "pusher"),
)

YOUTUBE = Platform(
    name="youtube",
    # YouTube channels and chat authors are identified by channel id (``UC`` + 22 base64url
    # characters) or by handle (``@name``, 3–30 of letters, digits, ``._-``); case matters.
    login_rule=re.compile(r"UC[A-Za-z0-9_-]{22}|@[A-Za-z0-9._-]{3,30}"),
    case_insensitive=False,
    settings_section="youtube",
    sources=("innertube", "api"),
)

PLATFORMS: dict[str, Platform] = {p.name: p for p in (TWITCH, KICK, YOUTUBE)}

# Sources that are not a platform's own collector and may appear on any platform.
GENERIC_SOURCES = ("import", "synthetic")


def platform(name: str) -> Platform:
    """The platform called ``name`` (exact, lower-case); ``KeyError`` names the known ones."""
    try:
        return PLATFORMS[name]
    except KeyError:
        known = ", ".join(PLATFORMS)
        raise KeyError(f"unknown platform {name!r} (known: {known})") from None
