"""Reading string columns dictionary-encoded gives the same rows, in any time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from vieweratlas.lake import Lake
from vieweratlas.synth import SynthSpec, generate


def test_dictionary_read_equals_plain_read(lake: Lake) -> None:
    data = generate(SynthSpec(channels=60, viewers=3000, communities=3, seed=2))
    lake.write("presence", data.presence)
    since = datetime(2026, 1, 5, 6, tzinfo=UTC)
    until = since + timedelta(hours=6)
    cols = ["ts", "channel", "user"]
    plain = lake.read("presence", columns=cols, since=since, until=until)
    coded = lake.read(
        "presence", columns=cols, since=since, until=until, dictionary=("channel", "user")
    )
    assert pa.types.is_dictionary(coded.schema.field("user").type)
    decoded = coded.cast(plain.schema)
    key = [("user", "ascending"), ("channel", "ascending"), ("ts", "ascending")]
    assert decoded.sort_by(key).equals(plain.sort_by(key))
    assert 0 < plain.num_rows < data.presence.num_rows
