"""What the dashboard keeps in memory: the page cache's bound, and the source's inline mode
(answers from memory on the event loop, :class:`Stale` whenever a read would be needed)."""

from __future__ import annotations

from typing import Any

import pytest
from weblakes import RICH_RUN, WebLake

from vieweratlas.lake import Lake
from vieweratlas.web.pagecache import CachedPage, PageCache
from vieweratlas.web.source import DataSource, Stale


def test_page_cache_is_bounded_and_least_recently_used() -> None:
    cache = PageCache(max_bytes=1000)
    for i in range(20):
        cache.put(i, CachedPage(b"x" * 100, "text/html"))
        assert cache.size <= 1000
    assert cache.size == 1000 and len(cache) == 10
    assert cache.get(0) is None and cache.get(10) is not None  # oldest went first
    cache.put(20, CachedPage(b"y" * 100, "text/html"))  # 10 was just used: 11 goes
    assert cache.get(10) is not None and cache.get(11) is None
    cache.put("huge", CachedPage(b"z" * 500, "text/html"))  # over an eighth: not kept
    assert cache.get("huge") is None and cache.size == 1000
    cache.put(20, CachedPage(b"w" * 50, "text/html"))  # replacing counts the new size
    assert cache.size == 950 and cache.get(20) == CachedPage(b"w" * 50, "text/html")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_inline_mode_never_reads(web_lake: WebLake) -> None:
    clock = Clock()
    source = DataSource(Lake.open(str(web_lake.path)), ttl=60.0, clock=clock)
    with source.inline(), pytest.raises(Stale):
        source.runs()  # never listed yet
    with source.inline(), pytest.raises(Stale):
        source.tracking()
    runs = source.runs()
    with source.inline():
        assert source.runs() is runs
        with pytest.raises(Stale):
            source.run(RICH_RUN)  # listed, but not loaded
    data = source.run(RICH_RUN)
    tracking = source.tracking()
    versions = source.versions()
    with source.inline():
        assert source.run(None) is data and source.tracking() is tracking
        with pytest.raises(Stale):
            source.off_loop()
    source.off_loop()  # outside inline: nothing to hand over
    clock.now = 61.0
    with source.inline(), pytest.raises(Stale):
        source.run(None)  # the list of runs is due for a re-read
    assert source.run(None) is data
    assert source.tracking() is tracking  # re-read, same output: same object, same indexes
    assert source.versions() == versions


def test_cache_hits_return_the_same_bytes(client: Any, web_lake: WebLake) -> None:
    cache = client.app.app.state.page_cache
    path = f"/communities/0?run={web_lake.plain_run}&sort=channel"
    first = client.get(path)
    hits = cache.hits
    again = client.get(path)
    assert cache.hits == hits + 1
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
