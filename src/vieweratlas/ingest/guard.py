"""Opening untrusted input files with caps on size, decompression and JSON nesting.

Every importer reads its files through :func:`open_input`, which

* refuses files larger than ``Limits.max_file_bytes`` before reading a byte;
* transparently decompresses gzip (detected by its magic bytes, not the name) and refuses a
  stream that inflates past ``Limits.max_decompressed_bytes`` or past
  ``Limits.max_ratio`` × the compressed size (a gzip bomb stops after a few megabytes);
* for JSON, checks the nesting depth of every chunk *before* the parser sees it, with a
  vectorised bracket scan that tracks strings and escapes across chunk boundaries, so a
  100k-deep document is refused without the parser building (or recursing into) anything;
* for line-oriented formats (CSV, JSON Lines), refuses a line longer than
  ``Limits.max_line_bytes`` as soon as its bytes arrive, so one endless line costs at most
  that much memory, never the whole line (``\n``, ``\r`` and ``\r\n`` all end a line);
* reports the compressed bytes consumed to an optional ``progress`` callable.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vieweratlas.errors import InputError

Progress = Callable[[int], None]

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Limits:
    """Caps applied to every imported file (untrusted input)."""

    max_file_bytes: int = 16 * 2**30  # on disk
    max_decompressed_bytes: int = 32 * 2**30  # after gunzip
    max_ratio: float = 100.0  # decompressed / compressed, once past ``ratio_floor``
    ratio_floor: int = 64 * 2**20  # small files may inflate more than max_ratio
    max_json_depth: int = 64  # chat JSON nests about 6 levels deep
    max_line_bytes: int = 16 * 2**20  # one CSV / JSON Lines line (a record with its fields)
    max_blank_lines: int = 100_000  # blank lines allowed before the header / first record


class _Counting(io.RawIOBase):
    """A raw stream that reports bytes read to ``progress``."""

    def __init__(self, raw: io.BufferedReader, progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        if n:
            self.consumed += n
            if self._progress is not None:
                self._progress(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class InputStream(io.RawIOBase):
    """A binary stream over one input file that enforces :class:`Limits` while it is read."""

    def __init__(
        self,
        path: Path,
        limits: Limits,
        *,
        progress: Progress | None = None,
        json_depth: bool = False,
        lines: bool = False,
    ) -> None:
        self.path = path
        self.limits = limits
        try:
            size = path.stat().st_size
            raw = path.open("rb")
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
        if size > limits.max_file_bytes:
            raw.close()
            raise InputError(
                str(path), f"file is {size} bytes, over the {limits.max_file_bytes}-byte limit"
            )
        self.size = size
        self.compressed = raw.peek(2)[:2] == GZIP_MAGIC
        self._counting = _Counting(raw, progress)
        self._inner: io.BufferedIOBase | io.RawIOBase = (
            gzip.GzipFile(fileobj=io.BufferedReader(self._counting), mode="rb")
            if self.compressed
            else self._counting
        )
        self.position = 0  # decompressed bytes handed out
        self._depth: _DepthScanner | None = (
            _DepthScanner(limits.max_json_depth) if json_depth else None
        )
        self._lines: _LineScanner | None = _LineScanner(limits.max_line_bytes) if lines else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            n = self._inner.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(str(self.path), f"corrupt gzip data: {exc}") from None
        if not n:
            return 0
        self.position += n
        if self.compressed:
            self._check_inflation()
        if self._depth is not None and not self._depth.feed(bytes(buffer[:n])):
            raise InputError(
                str(self.path),
                f"JSON nested deeper than {self.limits.max_json_depth} levels "
                f"(within bytes {self.position - n}-{self.position})",
            )
        if self._lines is not None and not self._lines.feed(buffer[:n]):
            raise InputError(
                str(self.path),
                f"a line longer than {self.limits.max_line_bytes} bytes "
                "(the limit for one CSV or JSON Lines record)",
                line=self._lines.line,
            )
        return n

    def _check_inflation(self) -> None:
        lim = self.limits
        if self.position > lim.max_decompressed_bytes:
            raise InputError(
                str(self.path),
                f"gzip data inflates past {lim.max_decompressed_bytes} bytes (refused)",
            )
        if self.position > lim.ratio_floor and self.position > lim.max_ratio * max(self.size, 1):
            raise InputError(
                str(self.path),
                f"gzip data inflates more than {lim.max_ratio:g}x its {self.size}-byte size "
                "(a decompression bomb?); refused",
            )

    def close(self) -> None:
        self._inner.close()
        self._counting.close()
        super().close()


def open_input(
    path: Path,
    limits: Limits,
    *,
    progress: Progress | None = None,
    json_depth: bool = False,
    lines: bool = False,
) -> io.BufferedReader[InputStream]:
    """Open ``path`` for reading through the caps; gzip is decompressed transparently.

    ``lines`` caps the length of every line (CSV, JSON Lines). JSON streams skip a leading
    UTF-8 byte-order mark (the parser would reject it).
    """
    f = io.BufferedReader(
        InputStream(path, limits, progress=progress, json_depth=json_depth, lines=lines),
        1 << 20,
    )
    if json_depth and f.peek(3)[:3] == BOM:
        f.read(3)
    return f


def head(path: Path, limits: Limits, n: int = 65536) -> bytes:
    """The first ``n`` (decompressed) bytes of a file, for format detection."""
    with open_input(path, limits) as f:
        return f.read(n).removeprefix(BOM)


class _LineScanner:
    """Tracks the length of the current line over a byte stream fed in chunks.

    Only C-speed ``find``/``rfind``/``count`` run per chunk; a loop over the chunk's line
    ends happens only for chunks longer than the limit itself.
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.run = 0  # bytes of the current (unfinished) line so far
        self.line = 1  # number of the current line (CR, LF or CRLF end a line)
        self._cr = False  # the previous chunk ended in CR (a following LF is the same end)

    def feed(self, chunk: memoryview | bytes) -> bool:
        """Advance over ``chunk``; False when a line grew past the limit."""
        data = bytes(chunk)
        if self._cr and data[:1] == b"\n":
            data = data[1:]
        self._cr = data[-1:] == b"\r"
        first = _first_end(data)
        if first < 0:
            self.run += len(data)
            return self.run <= self.max_line
        if self.run + first > self.max_line:
            return False
        if len(data) > self.max_line:  # several lines inside one huge chunk: check each
            start = first + 1
            while True:
                end = _first_end(data, start)
                if end < 0:
                    break
                if end - start > self.max_line:
                    self.line += _line_ends(data, start)
                    return False
                start = end + 1
        last = max(data.rfind(b"\n"), data.rfind(b"\r"))
        self.line += _line_ends(data, len(data))
        self.run = len(data) - last - 1
        return self.run <= self.max_line


def _line_ends(data: bytes, end: int) -> int:
    """Line ends in ``data[:end]`` (CRLF counts once)."""
    return data.count(b"\n", 0, end) + data.count(b"\r", 0, end) - data.count(b"\r\n", 0, end)


def _first_end(data: bytes, start: int = 0) -> int:
    """Index of the first CR or LF at or after ``start``, -1 if none."""
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start, lf if lf >= 0 else len(data))
    return cr if cr >= 0 else lf


# Bytes the depth scan keeps after escapes are removed: quotes and brackets.
_DELETE = bytes(b for b in range(256) if b not in b'"[]{}')


class _DepthScanner:
    """Tracks JSON nesting depth over a byte stream fed in chunks.

    Escapes are removed first with C-speed ``bytes.replace`` (``\\\\`` pairs, then ``\\"``),
    so every quote left is a real string delimiter; everything but quotes and brackets is
    then dropped with ``bytes.translate``, and NumPy tracks string parity and depth over the
    few bytes that remain. An odd backslash run at a chunk's end is carried to the next.
    """

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.backslash = False  # the previous chunk ended in an unpaired backslash

    def feed(self, chunk: bytes) -> bool:
        """Advance over ``chunk``; False when the depth limit was exceeded in it."""
        if self.backslash:
            chunk = b"\\" + chunk
        plain = chunk.replace(b"\\\\", b"").replace(b'\\"', b"")
        self.backslash = plain.endswith(b"\\")
        kept = np.frombuffer(plain.translate(None, _DELETE), dtype=np.uint8)
        if len(kept) == 0:
            return True
        quotes = kept == 34
        inside = (np.cumsum(quotes, dtype=np.int64) + int(self.in_string)) % 2 == 1
        opening = (kept == 91) | (kept == 123)
        closing = (kept == 93) | (kept == 125)
        delta = opening.astype(np.int64) - closing.astype(np.int64)
        delta[inside | quotes] = 0
        depth = np.cumsum(delta) + self.depth
        if int(depth.max()) > self.max_depth:
            return False
        self.depth = int(depth[-1])
        self.in_string = bool(inside[-1])
        return True
