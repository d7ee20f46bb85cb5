"""EMF lines are valid Embedded Metric Format documents (checked against a JSON Schema
written from the CloudWatch EMF specification) and every directive resolves."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vieweratlas import metrics
from vieweratlas.metrics import (
    CHANNELS_JOINED,
    COMMUNITIES_FOUND,
    NAMESPACE,
    RECONNECTS,
    ROWS_COLLECTED,
    RUN_DURATION,
    UNITS,
    JobRun,
    build,
    emit,
)

# The EMF specification's structure: root with an `_aws` member holding a millisecond
# Timestamp and CloudWatchMetrics directives (Namespace, Dimensions, Metrics).
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1},
                                        "Unit": {"enum": sorted(UNITS)},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}

NOW = datetime(2026, 11, 25, 1, 2, 3, 456000, tzinfo=UTC)


def check_emf(doc: dict[str, Any]) -> None:
    """Schema-valid, and every referenced dimension and metric is a root member."""
    jsonschema.validate(doc, EMF_SCHEMA)
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                assert isinstance(doc[key], str)
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)


def test_collector_line_is_valid_emf() -> None:
    out = io.StringIO()
    doc = emit(
        NAMESPACE,
        {ROWS_COLLECTED: 1234, CHANNELS_JOINED: 100, RECONNECTS: 2, RUN_DURATION: 300.5},
        {"Job": "collector"},
        unit={RUN_DURATION: "Seconds"},
        properties={"run_id": "20261125T010203Z-abc"},
        now=NOW,
        stream=out,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    parsed = json.loads(lines[0])
    assert parsed == doc
    check_emf(parsed)
    assert parsed["_aws"]["Timestamp"] == 1795568523456
    directive = parsed["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ViewerAtlas"
    assert directive["Dimensions"] == [["Job"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        ROWS_COLLECTED: "Count",
        CHANNELS_JOINED: "Count",
        RECONNECTS: "Count",
        RUN_DURATION: "Seconds",
    }
    assert parsed["Job"] == "collector"
    assert parsed["run_id"] == "20261125T010203Z-abc"


def test_analysis_line_without_dimensions() -> None:
    doc = build(NAMESPACE, {COMMUNITIES_FOUND: 12}, now=NOW)
    check_emf(doc)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]


def test_quiet_off_aws_and_on_stdout_on_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("AWS_EMF_ENVIRONMENT", "ECS_CONTAINER_METADATA_URI_V4", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(var, raising=False)
    emit(NAMESPACE, {ROWS_COLLECTED: 1}, {"Job": "collector"}, now=NOW)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "ECS")
    assert metrics.enabled()
    emit(NAMESPACE, {ROWS_COLLECTED: 1}, {"Job": "collector"}, now=NOW)
    check_emf(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("", {"A": 1}), {}, "namespace"),
        ((NAMESPACE, {}), {}, "at least one"),
        ((NAMESPACE, {"A": float("nan")}), {}, "finite"),
        ((NAMESPACE, {"A": float("inf")}), {}, "finite"),
        ((NAMESPACE, {"A": True}), {}, "finite"),
        ((NAMESPACE, {"A": "12"}), {}, "finite"),
        ((NAMESPACE, {"A": 1}), {"unit": "Parsecs"}, "unit"),
        ((NAMESPACE, {"A": 1}, {"A": "x"}), {}, "distinct"),
        ((NAMESPACE, {"_aws": 1}), {}, "distinct"),
        ((NAMESPACE, {"A": 1}, {"Job": ""}), {}, "dimension"),
        ((NAMESPACE, {"A": 1}, {"Job": "x" * 1025}), {}, "dimension"),
        ((NAMESPACE, {f"m{i}": i for i in range(101)}), {}, "at most 100"),
        ((NAMESPACE, {"A": 1}, {f"d{i}": "v" for i in range(31)}), {}, "at most 30"),
        ((NAMESPACE, {"A": 1}), {"now": datetime(2026, 1, 1)}, "timezone"),
    ],
)
def test_rejects_what_cloudwatch_would(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        build(*args, **kwargs)


@given(
    values=st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_characters="_"), min_size=1, max_size=40),
        st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=20,
    ),
    job=st.text(min_size=1, max_size=50),
)
def test_any_valid_input_gives_valid_emf(values: dict[str, float], job: str) -> None:
    values.pop("Job", None)
    if not values:
        return
    out = io.StringIO()
    emit(NAMESPACE, values, {"Job": job}, now=NOW, stream=out)
    (line,) = out.getvalue().splitlines()  # hostile names cannot break the line
    check_emf(json.loads(line))


def test_job_run_emits_duration_counts_and_failure() -> None:
    ticks = iter([100.0, 112.5])
    out = io.StringIO()
    with JobRun("collector", stream=out, clock=lambda: next(ticks)) as run:
        run.count(ROWS_COLLECTED, 10)
        run.count(ROWS_COLLECTED, 5)
        run.count(RECONNECTS)
    doc = json.loads(out.getvalue())
    check_emf(doc)
    assert (doc[ROWS_COLLECTED], doc[RECONNECTS], doc[RUN_DURATION]) == (15, 1, 12.5)
    assert (doc["Failed"], doc["Job"]) == (0, "collector")

    out = io.StringIO()
    with pytest.raises(RuntimeError), JobRun("analysis", stream=out):
        raise RuntimeError("boom")
    doc = json.loads(out.getvalue())
    check_emf(doc)
    assert doc["Failed"] == 1
    assert doc[RUN_DURATION] >= 0
