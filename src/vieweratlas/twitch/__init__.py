"""Compatibility path: the Twitch adapters live in :mod:`vieweratlas.sources.twitch`.

Kept so that ``from vieweratlas.twitch.irc import parse_line`` (a documented library contract)
keeps working after the move to ``sources/``.
"""
