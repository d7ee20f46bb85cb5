"""CloudWatch metrics as Embedded Metric Format (EMF) log lines: free to ship, no SDK calls.

A job prints one JSON object per line; CloudWatch Logs (the ECS ``awslogs`` driver) turns
the members named in its ``_aws.CloudWatchMetrics`` directive into metrics. Nothing is sent
anywhere by this module: it only writes a line.

Lines are written when running on AWS (``AWS_EMF_ENVIRONMENT`` set, as the task definitions
and ``compose.yaml`` do, or an ECS/Lambda runtime detected) or when a ``stream`` is given;
otherwise they go to the debug log, so a terminal stays quiet.

The contract the dashboard and alarms in ``deploy/aws`` rely on: namespace
:data:`NAMESPACE`, dimension ``Job`` (``collector``, ``analysis``, ``vod``), metric names below.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

log = logging.getLogger(__name__)

NAMESPACE = "ViewerAtlas"

# Metric names (with their units) used by the jobs, the dashboard and the alarms.
ROWS_COLLECTED = "RowsCollected"  # Count: presence rows written to the lake
CHANNELS_JOINED = "ChannelsJoined"  # Count: channels joined on IRC
RECONNECTS = "Reconnects"  # Count: IRC reconnects
RUN_DURATION = "RunDuration"  # Seconds: wall time of one job run
COMMUNITIES_FOUND = "CommunitiesFound"  # Count: communities in an analysis run
FAILED = "Failed"  # Count: 1 when a job run ended with an exception (JobRun)

UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds",
        "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
        "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
        "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
MAX_METRICS = 100  # per directive (EMF specification)
MAX_DIMENSIONS = 30  # per dimension set
_RUNTIME_VARS = ("AWS_EMF_ENVIRONMENT", "ECS_CONTAINER_METADATA_URI_V4", "AWS_LAMBDA_FUNCTION_NAME")


def build(
    namespace: str,
    metrics: Mapping[str, float],
    dimensions: Mapping[str, str] | None = None,
    *,
    unit: str | Mapping[str, str] = "Count",
    properties: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One EMF document. ``unit`` is one unit for all metrics or a name → unit mapping.

    Raises ``ValueError`` for anything CloudWatch would reject (bad unit, non-finite value,
    too many metrics or dimensions, a name used twice), so a mistake fails in tests.
    """
    dimensions = dict(dimensions or {})
    properties = dict(properties or {})
    if not namespace or len(namespace) > 255:
        raise ValueError("namespace must have 1-255 characters")
    if not metrics:
        raise ValueError("at least one metric is needed")
    if len(metrics) > MAX_METRICS:
        raise ValueError(f"at most {MAX_METRICS} metrics per line")
    if len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} dimensions per line")
    names = [*metrics, *dimensions, *properties]
    if len(set(names)) != len(names) or "_aws" in names:
        raise ValueError("metric, dimension and property names must be distinct (and not _aws)")
    for key, dim in dimensions.items():
        if not isinstance(dim, str) or not 0 < len(dim) <= 1024 or not 0 < len(key) <= 255:
            raise ValueError(f"dimension {key!r}: expected a name and a 1-1024 character string")
    definitions: list[dict[str, str]] = []
    doc: dict[str, Any] = {}
    for name, value in metrics.items():
        if not 0 < len(name) <= 255:
            raise ValueError(f"metric name {name!r}: expected 1-255 characters")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"metric {name!r}: expected a finite number, got {value!r}")
        u = unit if isinstance(unit, str) else unit.get(name, "Count")
        if u not in UNITS:
            raise ValueError(f"metric {name!r}: unknown CloudWatch unit {u!r}")
        definitions.append({"Name": name, "Unit": u})
        doc[name] = value
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    aws = {
        "Timestamp": int(when.timestamp() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [sorted(dimensions)] if dimensions else [[]],
                "Metrics": definitions,
            }
        ],
    }
    return {"_aws": aws, **dimensions, **properties, **doc}


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether lines go to stdout by default: on AWS (or when asked via AWS_EMF_ENVIRONMENT)."""
    env = os.environ if environ is None else environ
    return any(env.get(var) for var in _RUNTIME_VARS)


def emit(
    namespace: str,
    metrics: Mapping[str, float],
    dimensions: Mapping[str, str] | None = None,
    *,
    unit: str | Mapping[str, str] = "Count",
    properties: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Write one EMF line (to ``stream``, else stdout when :func:`enabled`); returns it.

    Example: ``emit(NAMESPACE, {ROWS_COLLECTED: 1234}, {"Job": "collector"})`` or
    ``emit(NAMESPACE, {RUN_DURATION: 12.5}, {"Job": "analysis"}, unit="Seconds")``.
    """
    doc = build(namespace, metrics, dimensions, unit=unit, properties=properties, now=now)
    line = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, default=str)
    if stream is None and enabled():
        stream = sys.stdout
    if stream is None:
        log.debug("metrics: %s", line)
    else:
        stream.write(line + "\n")
        stream.flush()
    return doc


class JobRun:
    """Time one run of a job and emit its counters once, at the end (also on failure).

    ::

        with JobRun("analysis") as run:
            result = analyze(...)
            run.count(COMMUNITIES_FOUND, len(result.communities))

    emits ``{"CommunitiesFound": …, "RunDuration": …, "Failed": 0|1}`` with ``Job=analysis``;
    the collector would count ``RowsCollected``, ``ChannelsJoined`` and ``Reconnects``.
    """

    def __init__(
        self,
        job: str,
        *,
        namespace: str = NAMESPACE,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.namespace = namespace
        self.stream = stream
        self.clock = clock
        self.counts: dict[str, float] = {}
        self._start = 0.0

    def count(self, name: str, value: float = 1) -> None:
        """Add ``value`` to the counter ``name`` (a Count metric)."""
        self.counts[name] = self.counts.get(name, 0) + value

    def __enter__(self) -> JobRun:
        self._start = self.clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        values = {**self.counts, RUN_DURATION: self.clock() - self._start}
        values[FAILED] = 0 if exc_type is None else 1
        try:
            emit(
                self.namespace,
                values,
                {"Job": self.job},
                unit={RUN_DURATION: "Seconds"},
                stream=self.stream,
            )
        except (ValueError, OSError):  # metrics must never break the job
            log.warning("metrics: could not emit the %s run metrics", self.job, exc_info=True)
