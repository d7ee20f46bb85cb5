"""What imported values mean: time columns, names by the platform's rule, sane times, and
corrected channel metadata. Nothing is replaced or dropped without the import saying so."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit import run_cli
from vieweratlas.errors import InputError
from vieweratlas.ingest import TIME_COLUMNS, import_channels, import_presence
from vieweratlas.ingest.columns import ColumnError, already_normal, to_names
from vieweratlas.lake import Lake
from vieweratlas.platforms import PLATFORMS, TWITCH, platform


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def latest_game(lake: Lake) -> dict[str, str]:
    """The analysis contract: the latest channel row by ts wins."""
    t = lake.read("channels").sort_by("ts")
    return {r["channel"]: r["game"] for r in t.to_pylist()}


# ------------------------------------------------------------------ time columns


@pytest.mark.parametrize("column", ["timestamp", "time", "date", "Datetime", "created_at"])
def test_time_column_under_another_name_is_the_time(
    lake: Lake, tmp_path: Path, column: str
) -> None:
    f = tmp_path / "p.csv"
    f.write_text(f"{column},channel,user\n2024-03-01T12:00:00Z,a,x\n2024-03-02,a,y\n")
    os.utime(f, (at(2023, 1, 1).timestamp(),) * 2)
    result = import_presence(lake, [f])
    got = {r["user"]: r["ts"] for r in lake.read("presence").to_pylist()}
    assert got == {"x": at(2024, 3, 1, 12), "y": at(2024, 3, 2)}
    assert result.snapshot_files == 0
    assert any(repr(column) in n and "read as the time" in n for n in result.notices)


def test_time_column_errors_name_the_column(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("timestamp,channel,user\n2024-03-01T12:00:00Z,a,x\nsoon,a,y\n")
    with pytest.raises(InputError) as info:
        import_presence(lake, [f])
    assert (info.value.line, info.value.field) == (3, "timestamp")


def test_two_time_columns_without_ts_are_refused(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("date,time,channel,user\n2024-03-01,12:00,a,x\n")
    with pytest.raises(InputError, match="several time columns") as info:
        import_presence(lake, [f])
    assert "'date'" in str(info.value) and "'time'" in str(info.value)
    f.write_text("ts,date,channel,user\n2024-03-01T12:00:00Z,2020-01-01,a,x\n")
    import_presence(lake, [f])  # an explicit ts wins
    assert lake.read("presence")["ts"].to_pylist() == [at(2024, 3, 1, 12)]


def test_channels_time_column_under_another_name(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text(
        '{"created_at": "2024-03-01T12:00:00Z", "channel": "a", "game": "Go", "language": "en"}\n'
    )
    import_channels(lake, [f])
    assert lake.read("channels")["ts"].to_pylist() == [at(2024, 3, 1, 12)]


def test_a_file_without_time_column_says_it_is_one_snapshot(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "now.csv"
    f.write_text("channel,user\na,x\nb,y\n")
    result = import_presence(lake, [f], snapshot_time=at(2024, 5, 6, 7, 8))
    assert result.snapshot_files == 1
    (notice,) = [n for n in result.notices if "no time column" in n]
    assert "2 row(s)" in notice and "2024-05-06T07:08:00Z" in notice
    code = run_cli(["import", "presence", str(f), "--lake", str(tmp_path / "l2")])
    assert code == 0
    assert "no time column" in capsys.readouterr().out
    assert set(TIME_COLUMNS) >= {"timestamp", "time", "date", "datetime", "created_at"}


# ------------------------------------------------------------------ corrected channel metadata


def test_corrected_channels_file_within_the_same_minute_wins(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "channels.csv"
    f.write_text("channel,game,language\nfoo,Chess,en\nbar,Go,de\n")
    minute = at(2024, 6, 1, 10, 0).timestamp()
    os.utime(f, (minute + 5, minute + 5))
    assert import_channels(lake, [f]).rows_written == 2
    assert import_channels(lake, [f]).rows_written == 0  # the same file: idempotent
    f.write_text("channel,game,language\nfoo,Checkers,en\nbar,Go,de\n")
    os.utime(f, (minute + 35, minute + 35))  # corrected 30 s later, same minute
    result = import_channels(lake, [f])
    assert result.rows_written == 2
    assert latest_game(lake) == {"foo": "Checkers", "bar": "Go"}
    assert result.differing_rows == 0


def test_same_key_other_values_is_reported(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "channels.csv"
    f.write_text("ts,channel,game,language\n2024-06-01T10:00:00Z,foo,Chess,en\n")
    import_channels(lake, [f])
    f.write_text(
        "ts,channel,game,language\n2024-06-01T10:00:00Z,foo,Checkers,en\n"
        "2024-06-01T10:00:00Z,bar,Go,de\n"
    )
    result = import_channels(lake, [f])
    assert result.differing_rows == 1
    assert any("other values" in n for n in result.notices)
    rows = lake.read("channels").to_pylist()
    assert sorted(r["channel"] for r in rows) == ["bar", "foo"]  # one row per key
    code = run_cli(["import", "channels", str(f), "--lake", lake.root])
    assert code == 0
    assert "1 channel row(s) have the same time and channel" in capsys.readouterr().out


# ------------------------------------------------------------------ names


def test_unambiguous_decoration_is_normalised_and_counted(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(
        "ts,channel,user\n2024-01-01T00:00:00Z,#Shroud,Alice\n2024-01-01T00:00:00Z,shroud,bob\n"
    )
    result = import_presence(lake, [f])
    assert set(lake.read("presence")["channel"].to_pylist()) == {"shroud"}
    assert result.normalised_rows == 2  # '#Shroud' and 'Alice'
    assert any("normalised" in n for n in result.notices)


BAD_NAMES = [
    "shr oud",
    "bébé",
    "a\u200bb",  # zero-width space
    "a\u202eb",  # right-to-left override
    "a\x1b[2Jb",  # escape sequence
    "a\x00b",
    "x" * 26,
    "y" * 3_000_000,
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:20])
@pytest.mark.parametrize("field", ["channel", "user"])
def test_names_the_platform_cannot_have_are_refused(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, field: str
) -> None:
    row = {"channel": "a", "user": "x", field: name}
    f = tmp_path / "p.csv"
    f.write_text(
        "ts,channel,user\n"
        + "2024-01-01T00:00:00Z,a,x\n" * 3000  # the bad name lies past the first 64 KiB
        + f"2024-01-01T00:00:00Z,{row['channel']},{row['user']}\n",
        encoding="utf-8",
    )
    code = run_cli(["import", "presence", str(f), "--lake", lake.root])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.splitlines()
    assert f"p.csv:3002: field '{field}'" in line
    assert f"not a twitch {field} name" in line and "[a-z0-9_]{1,25}" in line
    assert len(line) < 500
    assert lake.list_files("curated") == []


def test_channel_file_names_follow_the_rule(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("channel,game,language\n#Foo,Chess,en\nb ar,Go,de\n")
    with pytest.raises(InputError, match="not a twitch channel name") as info:
        import_channels(lake, [f])
    assert (info.value.line, info.value.field) == (3, "channel")


def test_control_characters_in_free_text_are_refused(lake: Lake, tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text('channel,game,language,title\nfoo,Chess,en,"a\x1b]0;pwned\x07b"\n')
    with pytest.raises(InputError, match="control character") as info:
        import_channels(lake, [f])
    assert info.value.field == "title"


@pytest.mark.parametrize("value", ["twitch\n", "Twitch", "twitchx", "../x", ""])
def test_platform_option_is_an_exact_known_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    f = tmp_path / "p.csv"
    f.write_text("ts,channel,user\n2024-01-01T00:00:00Z,a,x\n")
    lake = tmp_path / "lake"
    code = run_cli(["import", "presence", str(f), "--lake", str(lake), "--platform", value])
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--platform" in line and "unknown platform" in line
    assert not lake.exists() or not any(p.is_file() for p in lake.rglob("*"))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.text(max_size=30) | st.from_regex(r"#?[A-Za-z0-9_@.-]{1,30}"), max_size=8)
)
def test_vectorised_names_agree_with_the_platform_rule(name: str, values: list[str]) -> None:
    rules = platform(name)
    expected = [rules.normalize(v) for v in values]
    try:
        got, changed = to_names(pa.array(values, pa.string()), rules, "user")
    except ColumnError as exc:
        assert None in expected
        assert expected[exc.row] is None and None not in expected[: exc.row]
        return
    assert got.to_pylist() == expected
    assert changed == sum(e != v for e, v in zip(expected, values, strict=True))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.text(max_size=30) | st.from_regex(r"#?[A-Za-z0-9_@.\- ]{0,30}", fullmatch=True),
        min_size=1,
        max_size=6,
    ),
    cut=st.integers(0, 2),
)
def test_byte_class_shortcut_passes_only_names_already_stored(
    name: str, values: list[str], cut: int
) -> None:
    """The per-byte check that spares the regex says "normal" only when the platform's rule
    would keep every name unchanged, and for a rule of one character class it does say so
    for such names (on sliced arrays too)."""
    rules = platform(name)
    arr = pa.array(["#X", *values, "Y "], pa.string()).slice(1 + cut, max(len(values) - cut, 0))
    shown = arr.to_pylist()
    unchanged = all(rules.normalize(v) == v for v in shown)
    if already_normal(arr, rules):
        assert unchanged
    elif unchanged and rules.name in ("twitch", "kick") and shown:
        pytest.fail(f"names in normal form not recognised: {shown!r}")


def test_collectors_share_the_rule() -> None:
    from vieweratlas.sources.twitch.irc import normalize_login
    from vieweratlas.sources.twitch.models import check_login

    for value in ["#Shroud", "x" * 25, "x" * 26, "a b", " xqc "]:
        expected = TWITCH.normalize(value)
        assert normalize_login(value) == expected
        if expected is None:
            with pytest.raises(ValueError):
                check_login(value)
        else:
            assert check_login(value) == expected


# ------------------------------------------------------------------ time range


@pytest.mark.parametrize(
    "ts", ["1653-01-01T00:00:00Z", "5138-01-01T00:00:00Z", "9999-12-31", "-5", "1000000000"]
)
def test_times_outside_the_sane_range_are_refused(lake: Lake, tmp_path: Path, ts: str) -> None:
    f = tmp_path / "p.csv"
    f.write_text(f"ts,channel,user\n2024-01-01T00:00:00Z,a,x\n{ts},a,y\n")
    with pytest.raises(InputError, match="range") as info:
        import_presence(lake, [f])
    assert (info.value.line, info.value.field) == (3, "ts")
    assert lake.list_files("curated") == []


def test_snapshot_time_and_interactions_steps_are_range_checked(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.csv"
    f.write_text("channel,user\na,x\n")
    code = run_cli(
        ["import", "presence", str(f), "--lake", lake.root, "--snapshot-time", "9999-01-01"]
    )
    assert code == 2
    assert "--snapshot-time" in capsys.readouterr().err
    i = tmp_path / "i.csv"
    i.write_text("1,10,streamer_a,5,7\n2,10,streamer_a,12345678901234567,12345678901234568\n")
    with pytest.raises(InputError, match="range") as info:
        import_presence(lake, [i], fmt="interactions")
    assert (info.value.line, info.value.field) == (2, "start")
    assert lake.list_files("curated") == []
