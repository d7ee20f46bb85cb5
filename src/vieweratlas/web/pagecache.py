"""Rendered pages kept in memory, bounded by their total size.

A run never changes once written, so a page of a run is the same bytes until the list of
runs (which run is the latest), the tracking output or the lake summary changes: the key
holds the request's path and query and those versions (:meth:`DataSource.versions`), and a
page built from older data is simply never asked for again and ages out of the LRU.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)

__all__ = ["CachedPage", "PageCache"]


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    media_type: str


class PageCache:
    """A thread-safe LRU of rendered pages holding at most ``max_bytes`` of bodies."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: Hashable, page: CachedPage) -> None:
        size = len(page.body)
        if size > self.max_bytes // 8:  # one huge page (a "show all") must not flush the rest
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._pages[key] = page
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes
