"""The web dashboard (``vieweratlas serve``): an ASGI app over the lake's runs, read-only.

:func:`create_app` builds it from settings; :mod:`.source` reads and caches the lake,
:mod:`.rundata` indexes one run, :mod:`.pages` says what each page shows (HTML and its JSON
twin), :mod:`.tracking` reads and indexes lineages and similar-channel ranks over time,
:mod:`.pagecache` keeps rendered pages, :mod:`.security` guards it.
"""

from __future__ import annotations

from vieweratlas.web.app import WebOptions, create_app
from vieweratlas.web.security import check_bind

__all__ = ["WebOptions", "check_bind", "create_app"]
