"""Twitch adapters: live chat over IRC (``irc``, ``connection``, ``collector``), channel
lists (``sources``), and the Helix / GQL clients. Everything read from Twitch is validated
here, at the boundary, before it reaches the lake.
"""

from __future__ import annotations
