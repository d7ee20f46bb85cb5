"""Shared pieces of the CLI: the common options, settings resolution, console, errors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vieweratlas.cli.output import console, err_console
from vieweratlas.config import Settings, load_settings
from vieweratlas.textsafe import terminal_safe

__all__ = ["ConfigOpt", "LakeOpt", "PresetOpt", "console", "err_console", "nest", "resolve"]

LakeOpt = Annotated[
    str | None,
    typer.Option("--lake", help="Lake folder or s3://bucket/prefix [default: ./atlas-data]"),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML settings file (see config/config.yaml)."),
]
PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="default | rigorous | explorer | debug"),
]


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"analysis.seed": 1, "lake": None}`` → ``{"analysis": {"seed": 1}}`` (None dropped)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def resolve(
    lake: str | None = None,
    config: Path | None = None,
    preset: str | None = None,
    **flags: Any,
) -> Settings:
    """Settings for one command: the common options plus its own flags (dotted keys)."""
    settings = load_settings(
        config_file=config, preset=preset, overrides=nest({"lake": lake, **flags})
    )
    setup_logging(settings.log_level)
    return settings


class SafeFormatter(logging.Formatter):
    """Log lines carry names and titles from data: controls are shown, never sent."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


def setup_logging(level: str) -> None:
    """Logs on stderr. On a terminal, INFO lines would repeat what the command prints and
    the progress bar shows, so the terminal gets warnings and errors unless ``DEBUG``."""
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(level)
        return
    if sys.stderr.isatty():
        from rich.highlighter import NullHighlighter
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=err_console, show_path=False, markup=False, highlighter=NullHighlighter()
        )
        handler.setFormatter(SafeFormatter("%(message)s"))
        if level != "DEBUG":
            handler.setLevel(logging.WARNING)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "matplotlib", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
