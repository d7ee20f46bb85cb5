"""The one atomic writer for local files.

A file appears complete at its path or not at all: it is written under a hidden temporary
name beside its target, flushed and fsynced, given the mode the umask asks for (``mkstemp``
makes 0600), and renamed into place. A writer killed half-way leaves only an invisible
``.tmp-…`` file. The lake (local folders), the atlas exports and every other local output
use it. (The build-time asset fetcher keeps its own few lines: it runs before the package
is installed.)
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@functools.cache
def file_mode() -> int:
    """Mode for new files: 0o666 less the process umask. Read from /proc where it can be
    (reading it with ``os.umask`` means setting it, briefly, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # pragma: no cover - systems without /proc
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary stream whose content appears at ``path`` only when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=path.parent)
    os.fchmod(fd, file_mode())
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Calls ``write`` on a stream that becomes ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as handle:
        write(handle)
