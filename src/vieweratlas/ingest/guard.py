"""Opening untrusted input files with caps on size, decompression and JSON nesting.

Every importer reads its files through :func:`open_input`, which

* refuses files larger than ``Limits.max_file_bytes`` before reading a byte;
* transparently decompresses gzip (detected by its magic bytes, not the name) and refuses a
  stream that inflates past ``Limits.max_decompressed_bytes`` or past
  ``Limits.max_ratio`` × the compressed size (a gzip bomb stops after a few megabytes);
* for JSON, checks the nesting depth of every chunk *before* the parser sees it, with a
  vectorised bracket scan that tracks strings and escapes across chunk boundaries, so a
  100k-deep document is refused without the parser building (or recursing into) anything;
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


@dataclass(frozen=True)
class Limits:
    """Caps applied to every imported file (untrusted input)."""

    max_file_bytes: int = 16 * 2**30  # on disk
    max_decompressed_bytes: int = 32 * 2**30  # after gunzip
    max_ratio: float = 100.0  # decompressed / compressed, once past ``ratio_floor``
    ratio_floor: int = 64 * 2**20  # small files may inflate more than max_ratio
    max_json_depth: int = 64  # chat JSON nests about 6 levels deep


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
        self.lines = 1  # line number at ``position`` (counted only with json_depth)
        self._depth: _DepthScanner | None = (
            _DepthScanner(limits.max_json_depth) if json_depth else None
        )

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
        if self._depth is not None:
            chunk = np.frombuffer(buffer[:n], dtype=np.uint8)
            if not self._depth.feed(chunk):
                raise InputError(
                    str(self.path),
                    f"JSON nested deeper than {self.limits.max_json_depth} levels",
                    line=self.lines + int(np.count_nonzero(chunk[: self._depth.where] == 10)),
                )
            self.lines += int(np.count_nonzero(chunk == 10))
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
) -> io.BufferedReader:
    """Open ``path`` for reading through the caps; gzip is decompressed transparently."""
    return io.BufferedReader(
        InputStream(path, limits, progress=progress, json_depth=json_depth), 1 << 20
    )


def head(path: Path, limits: Limits, n: int = 65536) -> bytes:
    """The first ``n`` (decompressed) bytes of a file, for format detection."""
    with open_input(path, limits) as f:
        return f.read(n)


# Byte classes for the depth scan: 1 quote, 2 backslash, 3 opening, 4 closing bracket.
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[ord('"')] = 1
_CLASS[ord("\\")] = 2
_CLASS[[ord("["), ord("{")]] = 3
_CLASS[[ord("]"), ord("}")]] = 4


class _DepthScanner:
    """Tracks JSON nesting depth over a byte stream fed in chunks (vectorised with numpy).

    Only the structural bytes (quotes, backslashes, brackets) of a chunk are looked at: a
    quote is escaped when an odd run of backslashes directly precedes it (runs may start in
    the previous chunk), unescaped quotes toggle "inside a string", and brackets outside
    strings move the depth.
    """

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.backslashes = 0  # run of backslashes at the end of the previous chunk
        self.where = 0  # offset in the last chunk where the limit was passed

    def feed(self, chunk: np.ndarray) -> bool:
        """Advance over ``chunk``; False when the depth limit was exceeded in it."""
        n = len(chunk)
        if n == 0:
            return True
        classes = _CLASS[chunk]
        pos = np.flatnonzero(classes)
        carry = self.backslashes
        self.backslashes = 0
        if len(pos) == 0:
            return True
        cls = classes[pos]
        is_bs = cls == 2
        quote_at = np.flatnonzero(cls == 1)
        if len(quote_at) and is_bs.any():
            # Elements k-r..k-1 form the backslash run before element k when each is a
            # backslash and sits at the byte right before its successor.
            adjacent = np.empty(len(pos), dtype=bool)
            adjacent[:-1] = pos[1:] == pos[:-1] + 1
            adjacent[-1] = False
            good = is_bs & adjacent
            idx = np.arange(len(pos))
            last_bad = np.maximum.accumulate(np.where(good, -1, idx))
            before = quote_at - 1
            safe = np.maximum(before, 0)
            run = np.where(before >= 0, before - last_bad[safe], 0)
            run_start = pos[np.maximum(quote_at - run, 0)]
            from_chunk_start = np.where(run > 0, run_start == 0, pos[quote_at] == 0)
            run = run + np.where(from_chunk_start, carry, 0)
            escaped = run % 2 == 1
        elif len(quote_at) and carry % 2 == 1:
            escaped = pos[quote_at] == 0
        else:
            escaped = np.zeros(len(quote_at), dtype=bool)
        toggles = np.zeros(len(pos), dtype=np.int8)
        toggles[quote_at[~escaped]] = 1
        parity = (np.cumsum(toggles, dtype=np.int64) + int(self.in_string)) % 2
        outside = parity == 0
        delta = np.where(outside & (cls == 3), 1, np.where(outside & (cls == 4), -1, 0))
        depth = np.cumsum(delta) + self.depth
        over = np.flatnonzero(depth > self.max_depth)
        if len(over):
            self.where = int(pos[over[0]])
            return False
        self.depth = int(depth[-1])
        self.in_string = bool(parity[-1])
        if chunk[-1] == 92:
            k = len(pos) - 1
            while k >= 0 and cls[k] == 2 and pos[k] == n - (len(pos) - k):
                k -= 1
            trailing = len(pos) - 1 - k
            self.backslashes = trailing + (carry if trailing == n else 0)
        return True
