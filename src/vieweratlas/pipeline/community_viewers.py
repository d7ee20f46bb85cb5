"""A community's unique viewers when the engine kept no incidence matrix (Spark).

The community step counts each community's distinct viewers from the viewer × channel
matrix when the engine kept it (the local engine). The Spark engine keeps the viewers on
the cluster instead and hands the graph a ``group_viewers`` counter; this fills the
communities table's ``viewers`` (both levels) with one call to it, exact.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.pipeline.communities import RunTables

log = logging.getLogger(__name__)


def fill_community_viewers(tables: RunTables) -> RunTables:
    """``tables`` with ``communities.viewers`` counted by the graph's ``group_viewers``
    where the community step left it empty; unchanged when there is nothing to fill."""
    counter = tables.graph.group_viewers
    communities = tables.communities
    if counter is None or communities.num_rows == 0:
        return tables
    if communities["viewers"].null_count < communities.num_rows:
        return tables  # counted already (the engine kept the incidence)
    nodes = tables.nodes
    parts = [nodes.select(["platform", "channel"]).append_column(
        "group", pc.cast(nodes["community"], pa.int64())
    )]  # fmt: skip
    if "subcommunity" in nodes.column_names:
        sub = pc.cast(nodes["subcommunity"], pa.int64())
        inside = pc.fill_null(pc.greater_equal(sub, 0), False)
        parts.append(
            nodes.select(["platform", "channel"]).filter(inside).append_column(
                "group", sub.filter(inside)
            )
        )  # fmt: skip
    counts = counter(pa.concat_tables(parts))
    ids = communities["community"].to_numpy(zero_copy_only=False)
    values = [counts.get(int(i)) for i in ids.tolist()]
    missing = sum(v is None for v in values)
    if missing:
        log.warning("unique viewers of %d communities could not be counted", missing)
    at = communities.schema.get_field_index("viewers")
    column = pa.array(values, pa.int64())
    return replace(tables, communities=communities.set_column(at, "viewers", column))
