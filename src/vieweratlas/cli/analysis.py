"""``vieweratlas demo``, ``synth`` and ``analyze``."""

from __future__ import annotations

from vieweratlas.cli.app import app

__all__ = ["app"]
