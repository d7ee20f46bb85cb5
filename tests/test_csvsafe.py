"""CSV cells a spreadsheet would evaluate are written as text; everything else unchanged."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from vieweratlas.csvsafe import safe_csv_bytes

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@given(
    st.lists(
        st.one_of(st.sampled_from(TRIGGERS), st.just("")).flatmap(
            lambda head: st.text(max_size=12).map(lambda tail: head + tail)
        ),
        min_size=1,
        max_size=20,
    )
)
def test_no_text_cell_starts_a_formula_and_values_round_trip(names: list[str]) -> None:
    counts = list(range(-len(names), 0))  # negative numbers stay numbers
    data = safe_csv_bytes(pa.table({"channel": names, "shared": counts}))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == ["channel", "shared"]
    for (cell, number), name, count in zip(rows[1:], names, counts, strict=True):
        assert not cell.startswith(TRIGGERS)
        assert cell == ("'" + name if name.startswith(TRIGGERS) else name)
        assert number == str(count)


def test_a_hostile_label_is_shown_as_text() -> None:
    table = pa.table({"label": ['=HYPERLINK("http://x.invalid","click")', "@SUM(1+1)", "ok"]})
    text = safe_csv_bytes(table).decode()
    assert text.splitlines()[1:] == [
        '"\'=HYPERLINK(""http://x.invalid"",""click"")"',
        '"\'@SUM(1+1)"',
        '"ok"',
    ]
