"""Build hook: puts sigma.js and graphology (pinned, integrity-checked) into render/static/.

The files come from the npm registry at build time and are never committed; see
``src/vieweratlas/render/assets.py``. A build without network access still succeeds (with a
warning): everything but ``atlas.html`` works, and writing the atlas says how to fix it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ASSETS = Path(__file__).parent / "src" / "vieweratlas" / "render" / "assets.py"


class AtlasAssetsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        spec = importlib.util.spec_from_file_location("_vieweratlas_assets", ASSETS)
        if spec is None or spec.loader is None:
            return
        try:
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look their module up there
            spec.loader.exec_module(module)
            module.ensure_assets()
        except Exception as exc:
            print(f"warning: atlas.html assets not fetched: {exc}", file=sys.stderr)
