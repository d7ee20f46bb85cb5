"""One cursor paginator for every platform API.

Cursor APIs (Helix, Kick, YouTube continuations, GraphQL) share the same loop and the same
ways of going wrong: a server that repeats its cursor, one that never stops, pages that
overlap. :func:`pages` owns that loop once: it asks for pages until the server has no next
cursor, returns an empty page, repeats the cursor, the caller says it has enough, or a
hard page bound is reached (so a looping server cannot keep us forever).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of items and the cursor of the next page (None: the last page)."""

    items: list[T]
    next_cursor: str | None


async def pages(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    *,
    max_pages: int,
    what: str = "pages",
    on_limit: Callable[[], None] | None = None,
) -> AsyncIterator[Page[T]]:
    """Pages from ``fetch(cursor)`` (``None`` for the first), until the last page, an empty
    page, a repeated cursor, or ``max_pages`` (then ``on_limit()`` is called, which may
    raise; by default a warning is logged). The caller may stop early (``break``)."""
    cursor: str | None = None
    for number in range(1, max_pages + 1):
        page = await fetch(cursor)
        yield page
        nxt = page.next_cursor
        if not page.items or not nxt or nxt == cursor:
            return
        cursor = nxt
        if number == max_pages:
            if on_limit is not None:
                on_limit()
            log.warning("%s: stopped after %d pages (the server kept paging)", what, max_pages)
