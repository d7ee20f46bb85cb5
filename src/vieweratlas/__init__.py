"""ViewerAtlas: find which Twitch channels share audiences and map their communities."""

from __future__ import annotations

__version__ = "0.1.0"
