from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presence_rows import presence

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.errors import AnalysisError


def test_counts_snapshots_per_viewer_and_channel() -> None:
    inc = aggregate(
        presence([(0, "a", "u1"), (1, "a", "u1"), (0, "b", "u1"), (0, "a", "u2"), (2, "b", "u3")])
    )
    users = inc.users.to_pylist()
    channels = inc.channels.to_pylist()
    dense = inc.matrix.toarray()
    assert channels == ["a", "b"]  # numbered in name order
    assert dense[users.index("u1"), channels.index("a")] == 2
    assert dense[users.index("u1"), channels.index("b")] == 1
    assert dense[users.index("u2")].tolist() == [1, 0]
    assert dense[users.index("u3")].tolist() == [0, 1]
    assert inc.windows == 3
    assert inc.presence_rows == 5


def test_empty_window_is_an_error() -> None:
    with pytest.raises(AnalysisError, match="no presence rows"):
        aggregate(presence([]).slice(0, 0))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5), st.sampled_from("abcdef"), st.sampled_from(["x", "y", "z", "w"])
        ),
        min_size=1,
        max_size=60,
        unique=True,
    ),
    st.booleans(),
)
def test_matrix_matches_a_plain_count_in_any_row_order(
    rows: list[tuple[int, str, str]], sort: bool
) -> None:
    if sort:
        rows = sorted(rows, key=lambda r: (r[2], r[1], r[0]))
    table = presence(rows)
    if len(rows) > 2:  # several chunks, as a multi-file lake read gives
        table = pa.concat_tables([table.slice(0, 2), table.slice(2)])
    inc = aggregate(table)
    users, channels = inc.users.to_pylist(), inc.channels.to_pylist()
    expected = np.zeros((len(users), len(channels)), dtype=np.int64)
    for _, c, u in rows:
        expected[users.index(u), channels.index(c)] += 1
    assert (inc.matrix.toarray() == expected).all()
    assert inc.matrix.has_canonical_format


def test_dictionary_columns_with_unused_entries_give_the_same_matrix() -> None:
    rows = [(0, "a", "u1"), (1, "b", "u2"), (2, "c", "u3"), (0, "b", "u1")]
    plain = presence(rows)
    # Dictionary-encoded columns whose dictionaries hold values no row uses any more, as a
    # time-filtered read of dictionary pages gives; split in chunks with different ones.
    encoded = {}
    for name in ("channel", "user"):
        values = plain[name].to_pylist()
        dictionary = pa.array(sorted({*values, "zz_gone", "aa_gone"}))
        idx = pa.array([dictionary.to_pylist().index(v) for v in values], pa.int32())
        full = pa.DictionaryArray.from_arrays(idx, dictionary)
        encoded[name] = pa.chunked_array([full.slice(0, 2), full.slice(2)])
    table = pa.table({"ts": plain["ts"], **encoded})
    a, b = aggregate(plain), aggregate(table)
    assert b.channels.to_pylist() == a.channels.to_pylist() == ["a", "b", "c"]
    assert sorted(b.users.to_pylist()) == ["u1", "u2", "u3"]
    order_a = np.argsort(a.users.to_pylist())
    order_b = np.argsort(b.users.to_pylist())
    assert (a.matrix.toarray()[order_a] == b.matrix.toarray()[order_b]).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from("abcd"), st.sampled_from(["x", "y", "z"])),
        min_size=1,
        max_size=40,
        unique=True,
    ),
    st.integers(1, 4),
)
def test_chunks_with_their_own_and_shared_dictionaries_give_a_plain_count(
    rows: list[tuple[int, str, str]], files: int
) -> None:
    """As a Parquet read gives: one dictionary per file (row group), shared by its batches,
    different between files, each listing its values in its own order."""
    table = presence(rows)
    encoded: dict[str, pa.ChunkedArray] = {}
    for name in ("channel", "user"):
        chunks = []
        for f in range(files):
            part = table[name].combine_chunks()[f::files]
            dictionary = pa.array(sorted(set(part.to_pylist()), reverse=f % 2 == 1) or ["q"])
            idx = pa.array([dictionary.to_pylist().index(v) for v in part.to_pylist()], pa.int32())
            whole = pa.DictionaryArray.from_arrays(idx, dictionary)
            chunks += [whole.slice(0, 1), whole.slice(1)]  # two batches, one dictionary
        encoded[name] = pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.string()))
    ts = pa.concat_arrays(
        [
            table["ts"].combine_chunks()[f::files].slice(*span)
            for f in range(files)
            for span in ((0, 1), (1,))
        ]
    )
    inc = aggregate(pa.table({"ts": ts, **encoded}))
    users, channels = inc.users.to_pylist(), inc.channels.to_pylist()
    assert sorted(users) == sorted({u for _, _, u in rows})
    expected = np.zeros((len(users), len(channels)), dtype=np.int64)
    for _, c, u in rows:
        expected[users.index(u), channels.index(c)] += 1
    assert (inc.matrix.toarray() == expected).all()
