"""YouTube adapters: the web client's watch pages and live-chat continuations
(``innertube``) and the collector polling them (``collector``). Everything read from
YouTube is validated here before it reaches the lake.
"""

from __future__ import annotations
