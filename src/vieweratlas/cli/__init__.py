"""The ``vieweratlas`` command line: thin commands over the library.

Each command resolves settings, calls one library function and renders its result. Domain
errors (:class:`~vieweratlas.errors.VieweratlasError`) become one line on stderr and exit 2;
usage errors exit 2 as well (Typer's own handling).
"""

from __future__ import annotations

import sys

# Command modules register themselves on ``app`` when imported.
from vieweratlas.cli import (  # noqa: F401
    analysis,
    data,
    explore,
    helix,
    imports,
    lakecmd,
    live,
    platforms,
    serve,
)
from vieweratlas.cli.app import app
from vieweratlas.errors import VieweratlasError
from vieweratlas.textsafe import terminal_safe

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``vieweratlas`` and ``python -m vieweratlas``."""
    try:
        app(args=argv, prog_name="vieweratlas")
    except VieweratlasError as exc:
        # Plain write, controls shown: the message may hold untrusted text (names, paths).
        sys.stderr.write(f"error: {terminal_safe(str(exc))}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
