"""``vieweratlas similar --approx``: the same question answered from per-channel sketches.

Presence is read and bots are removed exactly as for the exact answer (so both describe the
same viewers); the overlap then comes from KMV/theta sketches of ``k`` hashes per channel
(:mod:`vieweratlas.analysis.sketches`) instead of the viewer × channel matrix. Counts and
shares are estimates with a relative standard error near ``1 / sqrt(k)``.
"""

from __future__ import annotations

import logging

import scipy.sparse as sp

from vieweratlas.analysis.similar import Audience
from vieweratlas.analysis.sketches import (
    DEFAULT_K,
    Sketches,
    approx_similar_to,
    sketch_incidence,
)
from vieweratlas.config import Settings
from vieweratlas.errors import AnalysisError
from vieweratlas.lake import Lake
from vieweratlas.pipeline.similar import (
    SimilarResult,
    find_channel,
    read_incidence,
    run_communities,
    with_communities,
)

log = logging.getLogger(__name__)


def load_sketches(lake: Lake, settings: Settings, *, k: int = DEFAULT_K) -> Sketches:
    """Sketches of the configured window's channels, bots removed as ``analyze`` does."""
    inc, removed = read_incidence(lake, settings)
    keep = ~removed
    return sketch_incidence(
        inc.matrix[keep],
        inc.user_platform.filter(keep),
        inc.users.filter(keep),
        inc.channel_platform,
        inc.channels,
        k=k,
    )


def similar_channels_approx(
    lake: Lake,
    settings: Settings,
    names: list[str],
    *,
    platform: str | None = None,
    top: int | None = 20,
    sort: str = "shared",
    k: int = DEFAULT_K,
) -> SimilarResult:
    """Like :func:`vieweratlas.pipeline.similar.similar_channels` for one channel, estimated
    from sketches (the result says ``approximate``)."""
    if len(names) != 1:
        raise AnalysisError(
            "similar --approx: name one channel (comparing several channels is exact and cheap)"
        )
    sk = load_sketches(lake, settings, k=k)
    # find_channel only looks at the channel columns: an empty matrix stands in for B
    lookup = Audience(sp.csr_matrix((0, sk.n)), sk.platform, sk.channel, 0)
    column = find_channel(lookup, names[0], platform)
    communities, run_id = run_communities(lake)
    table = with_communities(approx_similar_to(sk, column, top=top, sort=sort), communities)
    return SimilarResult(
        channels=[(sk.platform[column].as_py(), sk.channel[column].as_py())],
        viewers=[round(float(sk.viewers()[column]))],
        tables=[table],
        comparison=None,
        users=round(sk.users()),
        run_id=run_id,
        approximate=k,
    )
