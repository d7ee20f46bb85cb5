"""Graph engines: presence in the lake → a :class:`~vieweratlas.analysis.graph.ChannelGraph`.

An engine reads presence for the configured window and platforms, removes bots, counts
shared viewers and selects edges. ``local`` does it in-process with NumPy/SciPy; ``spark``
(for data past one machine) does the same from the same lake with PySpark. Everything after
the graph — communities, labels, layout, outputs — is engine-agnostic.

A new engine is a class with ``name`` and ``build`` that :func:`get_engine` knows by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from vieweratlas.errors import ConfigError

if TYPE_CHECKING:
    from vieweratlas.analysis.graph import ChannelGraph
    from vieweratlas.config import Settings
    from vieweratlas.lake import Lake
    from vieweratlas.timings import Timings

ENGINES = ("local", "spark")


class GraphEngine(Protocol):
    """Builds the channel graph of a lake's presence under the analysis settings."""

    name: str

    def build(self, lake: Lake, settings: Settings, timings: Timings) -> ChannelGraph:
        """The graph of ``settings.analysis``'s window; stages are timed in ``timings``."""
        ...


def get_engine(name: str) -> GraphEngine:
    """The engine called ``name`` (``local`` or ``spark``)."""
    if name == "local":
        from vieweratlas.engines.local import LocalEngine

        return LocalEngine()
    if name == "spark":
        try:
            from vieweratlas.engines.spark import SparkEngine
        except ImportError as exc:
            raise ConfigError(f"engine 'spark' is not available: {exc}") from None
        engine: GraphEngine = SparkEngine()
        return engine
    raise ConfigError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
