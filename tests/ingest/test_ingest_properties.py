"""Property tests: the JSON depth scanner and the plain-format round trip."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vieweratlas.ingest import import_presence
from vieweratlas.ingest.guard import _DepthScanner
from vieweratlas.lake import Lake

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n,:'),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_depth_scanner_agrees_with_the_parsed_depth(value: Any, cuts: list[int]) -> None:
    data = json.dumps(value).encode()
    true_depth = depth_of(value)
    for limit in (max(true_depth - 1, 0), true_depth):
        scanner = _DepthScanner(limit)
        ok = True
        pos = 0
        i = 0
        while pos < len(data):  # feed in chunks of varying size: state crosses boundaries
            size = cuts[i % len(cuts)]
            ok = scanner.feed(data[pos : pos + size])
            if not ok:
                break
            pos += size
            i += 1
        assert ok == (true_depth <= limit)
        if ok:
            assert scanner.depth == 0
            assert not scanner.in_string


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
times = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
styles = st.sampled_from(["iso", "naive", "epoch", "offset"])
row = st.tuples(times, names, names, st.integers(0, 1000), styles)


def render(ts: datetime, style: str) -> str:
    if style == "iso":
        return ts.isoformat().replace("+00:00", "Z")
    if style == "naive":
        return ts.replace(tzinfo=None).isoformat(sep=" ")
    if style == "offset":
        return ts.astimezone(timezone(timedelta(hours=-5))).isoformat()
    return str(int(ts.timestamp()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=40))
def test_plain_csv_round_trip(rows: list[tuple[datetime, str, str, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["ts", "channel", "user", "messages"])
        for ts, channel, user, messages, style in rows:
            w.writerow([render(ts, style), channel, user, messages])
        path = Path(tmp) / "rows.csv"
        path.write_text(buf.getvalue())
        lake = Lake.open(str(Path(tmp) / "lake"))
        import_presence(lake, [path])
        got = {
            (r["ts"], r["channel"], r["user"]): r["messages"]
            for r in lake.read("presence").to_pylist()
        }
        expected: dict[tuple[datetime, str, str], int] = {}
        for ts, channel, user, messages, _ in rows:
            key = (ts, channel, user)
            expected[key] = max(expected.get(key, 0), messages)  # duplicates: most messages
        assert got == expected
