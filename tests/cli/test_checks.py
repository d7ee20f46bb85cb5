"""What the commands check before they work, and how they say it: wrong --out and --lake,
missing and empty lakes, windows, the demo folder, and what analyze prints."""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from vieweratlas import __version__
from vieweratlas.cli import checks, main
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake

START = datetime(2026, 3, 2, tzinfo=UTC)


def run(argv: list[str]) -> tuple[int, str, str]:
    """``vieweratlas ARGV`` in-process, stdout/stderr captured (not a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def planted_presence(groups: int = 3, size: int = 6, viewers: int = 40) -> pa.Table:
    """Groups of channels whose viewers watch every channel of their group, two snapshots
    an hour apart on one day: a graph with ``groups`` obvious communities."""
    rows: dict[str, list[object]] = {k: [] for k in ("ts", "channel", "user", "platform")}
    for g in range(groups):
        for c in range(size):
            for u in range(viewers):
                for hour in (1, 2):
                    rows["ts"].append(START + timedelta(hours=hour))
                    rows["channel"].append(f"g{g}c{c}")
                    rows["user"].append(f"g{g}u{u}")
                    rows["platform"].append("twitch")
    n = len(rows["ts"])
    return pa.table(
        {
            "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC")),
            "channel": rows["channel"],
            "user": rows["user"],
            "user_id": pa.nulls(n, pa.string()),
            "source": ["import"] * n,
            "messages": pa.array([0] * n, pa.int32()),
            "platform": rows["platform"],
        }
    )


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small") / "lake"
    Lake.open(str(root)).write("presence", planted_presence())
    return root


@pytest.fixture(scope="module")
def analyzed(small_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One analysis of the small lake (tables only in the lake's copy): (out, stdout)."""
    out = tmp_path_factory.mktemp("run") / "out"
    code, stdout, err = run(
        [
            "analyze",
            "--lake",
            str(small_lake),
            "--out",
            str(out),
            "--overlap-threshold",
            "2",
            "--min-community-size",
            "2",
            "--lake-copy",
            "tables",
        ]
    )
    assert code == 0, err
    return out, stdout


@pytest.fixture
def no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysis must not start: checks come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the analysis ran before the checks")

    monkeypatch.setattr("vieweratlas.pipeline.analyze", refuse)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# ----------------------------------------------------------------- where commands write


@pytest.mark.usefixtures("no_analysis")
def test_out_that_is_a_file_or_dev_null_is_refused_before_work(
    small_lake: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    before = files_under(small_lake)
    for out in (a_file, Path("/dev/null"), a_file / "below"):
        err = one_line_error(*run(["analyze", "--lake", str(small_lake), "--out", str(out)])[::2])
        assert "--out" in err and "not a folder" in err
    assert a_file.read_text() == "mine"
    assert files_under(small_lake) == before


@pytest.mark.usefixtures("no_analysis")
def test_out_inside_the_lake_is_refused(small_lake: Path) -> None:
    before = files_under(small_lake)
    for out in (small_lake, small_lake / "curated" / "presence" / "platform=twitch" / "x"):
        err = one_line_error(*run(["analyze", "--lake", str(small_lake), "--out", str(out)])[::2])
        assert "inside the lake" in err
    assert files_under(small_lake) == before


def test_import_and_synth_with_a_file_as_lake_exit_2(tmp_path: Path) -> None:
    a_file = tmp_path / "lake.txt"
    a_file.write_text("not a lake")
    data = tmp_path / "p.csv"
    data.write_text("ts,channel,user\n2026-03-02T01:00:00Z,a,b\n")
    for lake in (a_file, a_file / "below"):
        for argv in (
            ["synth", "--channels", "6", "--viewers", "10"],
            ["import", "presence", str(data)],
            ["import", "channels", str(data)],
        ):
            err = one_line_error(*run([*argv, "--lake", str(lake)])[::2])
            assert "not a folder" in err
    assert a_file.read_text() == "not a lake"


# ----------------------------------------------------------------- missing and empty lakes


@pytest.mark.usefixtures("no_analysis")
def test_a_missing_lake_is_reported_by_every_reader(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-lake"
    for argv in (
        ["analyze", "--out", str(tmp_path / "out")],
        ["sql", "SELECT count(*) FROM presence"],
        ["lake", "check"],
        ["lake", "prune"],
        ["runs"],
    ):
        err = one_line_error(*run([*argv, "--lake", str(missing)])[::2])
        assert err == f"error: lake {missing} does not exist\n", argv
    assert not missing.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("no_analysis")
def test_an_empty_lake_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "lake"
    empty.mkdir()
    err = one_line_error(*run(["analyze", "--lake", str(empty), "--out", str(tmp_path / "o")])[::2])
    assert f"lake {empty} is empty" in err
    code, out, err = run(["lake", "check", "--lake", str(empty)])
    assert code == 0 and f"lake {empty} is empty" in out
    code, out, err = run(["sql", "--lake", str(empty), "SELECT count(*) AS n FROM presence"])
    assert code == 0 and out.splitlines() == ["n", "0"]
    assert "is empty" in err


@pytest.mark.usefixtures("no_analysis")
def test_analyze_after_demo_points_to_the_demo_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "atlas-demo" / "lake" / "synthetic" / "manifest.json"
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    err = one_line_error(*run(["analyze"])[::2])
    assert "lake ./atlas-data does not exist" in err
    assert "--lake atlas-demo/lake" in err


def test_lake_check_reports_tables_rows_range_platforms_and_runs(
    small_lake: Path, analyzed: tuple[Path, str]
) -> None:
    code, out, err = run(["lake", "check", "--lake", str(small_lake)])
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:6] == ["table", "files", "rows", "first", "last", "platforms"]
    presence = body["presence"]
    assert presence["rows"] == str(planted_presence().num_rows)
    assert presence["first"] == "2026-03-02T01:00:00Z"
    assert presence["last"] == "2026-03-02T02:00:00Z"
    assert presence["platforms"] == "twitch"
    summary = json.loads((analyzed[0] / "summary.json").read_text())
    assert f"newest {summary['run_id']}" in out


def test_lake_check_names_a_truncated_parquet_file(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    (written,) = lake.write("presence", planted_presence(groups=1, size=3)).files
    path = Path(lake.path(written))
    path.write_bytes(path.read_bytes()[:-40])
    code, _, err = run(["lake", "check", "--lake", lake.url])
    err = one_line_error(code, err)
    assert Path(written).name[-30:] in err and "damaged" in err
    code, _, err = run(["analyze", "--lake", lake.url, "--out", str(tmp_path / "out")])
    assert Path(written).name[-30:] in one_line_error(code, err)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- windows


@pytest.mark.usefixtures("no_analysis")
@pytest.mark.parametrize(
    ("since", "until", "kind"),
    [
        ("2026-03-02", "2026-03-02", "is empty"),
        ("2026-03-03", "2026-03-02", "is inverted"),
        ("2026-03-05", None, "selects no presence"),
        (None, "2026-03-02", "selects no presence"),  # the data starts at 01:00 that day
    ],
)
def test_windows_that_select_nothing_say_what_the_lake_holds(
    small_lake: Path, tmp_path: Path, since: str | None, until: str | None, kind: str
) -> None:
    argv = ["analyze", "--lake", str(small_lake), "--out", str(tmp_path / "o")]
    argv += ["--since", since] if since else []
    argv += ["--until", until] if until else []
    err = one_line_error(*run(argv)[::2])
    assert kind in err
    assert "the lake holds presence from 2026-03-02T01:00:00Z to 2026-03-02T02:00:00Z" in err
    if since and until:
        assert f"[{since}T00:00:00Z, {until}T00:00:00Z)" in err


def test_help_says_a_bare_date_is_midnight_utc() -> None:
    code, out, _ = run(["analyze", "-h"])
    assert code == 0
    flat = " ".join(out.split())
    assert "A bare date is midnight UTC" in flat
    assert "excluded" in flat


def test_printed_window_is_half_open_and_explained(small_lake: Path, tmp_path: Path) -> None:
    code, out, err = run(
        [
            "analyze",
            "--lake",
            str(small_lake),
            "--out",
            str(tmp_path / "o"),
            "--no-render",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-03",
            "--min-community-size",
            "2",
        ]
    )
    assert code == 0, err
    (window,) = [line for line in out.splitlines() if line.startswith("window ")]
    assert window.startswith("window [2026-03-02T00:00:00Z, 2026-03-03T00:00:00Z) (until excluded")
    assert "snapshots analysed 2026-03-02T01:00:00Z … 2026-03-02T02:00:00Z" in window


# ----------------------------------------------------------------- what analyze prints


def test_threshold_asked_and_used_side_by_side(analyzed: tuple[Path, str]) -> None:
    out, stdout = analyzed
    summary = json.loads((out / "summary.json").read_text())
    used = summary["counts"]["overlap_threshold_used"]
    (line,) = [x for x in stdout.splitlines() if x.startswith("overlap threshold:")]
    assert line.startswith(f"overlap threshold: asked 2, used {used}")


def test_bots_are_a_table_and_each_summary_is_printed_once(analyzed: tuple[Path, str]) -> None:
    out, stdout = analyzed
    summary = json.loads((out / "summary.json").read_text())
    assert "{" not in stdout  # no Python dict
    lines = stdout.splitlines()
    start = lines.index("reason\taccounts")
    for reason, count in summary["bots"]["by_reason"].items():
        assert f"{reason}\t{count}" in lines[start:]
    assert sum(x.startswith("bot accounts removed") for x in lines) == 1
    assert sum(x.startswith("outputs: ") for x in lines) == 1
    assert sum(" channels, " in x for x in lines) == 1


def test_piped_tables_are_tab_separated_and_never_cut(analyzed: tuple[Path, str]) -> None:
    out, stdout = analyzed
    lines = stdout.splitlines()
    start = lines.index("community\tlabel\tchannels\tviewers\ttop channels")
    communities = pq.read_table(out / "communities.parquet")
    top = communities.filter(pc.is_null(communities["parent"]))
    body = lines[start + 1 : start + 1 + min(top.num_rows, 15)]
    assert all(len(x.split("\t")) == 5 for x in body)
    assert "…" not in "\n".join(body)
    # One line per top-level community, values whole: sizes are the plain integers.
    assert [int(x.split("\t")[2]) for x in body] == top["size"].to_pylist()[:15]
    assert max(len(x) for x in lines) < 10_000


def test_lake_copy_tables_leaves_the_pictures_out(
    small_lake: Path, analyzed: tuple[Path, str]
) -> None:
    out, _ = analyzed
    summary = json.loads((out / "summary.json").read_text())
    copy = small_lake / "analysis" / summary["run_id"]
    assert (out / "atlas.html").exists() and (out / "atlas.png").exists()
    assert (copy / "nodes.parquet").exists() and (copy / "summary.json").exists()
    assert not {"atlas.html", "atlas.png", "graph.gexf", "graph.json"} & set(
        p.name for p in copy.iterdir()
    )


def test_version_and_short_help() -> None:
    code, out, _ = run(["--version"])
    assert code == 0 and out == f"vieweratlas {__version__}\n"
    for argv in (["-h"], ["lake", "-h"], ["sql", "-h"]):
        code, out, _ = run(argv)
        assert code == 0 and out.startswith("Usage: vieweratlas"), argv


# ----------------------------------------------------------------- sql


def test_sql_json_is_one_array_and_jsonl_one_line_per_row(small_lake: Path) -> None:
    query = "SELECT channel, count(*) AS n FROM presence GROUP BY 1 ORDER BY 1"
    code, out, _ = run(["sql", "--lake", str(small_lake), query, "--format", "json"])
    assert code == 0
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 18
    assert rows[0] == {"channel": "g0c0", "n": 80}
    code, out, _ = run(["sql", "--lake", str(small_lake), query, "--format", "jsonl"])
    assert [json.loads(x) for x in out.splitlines()] == rows
    code, out, _ = run(
        ["sql", "--lake", str(small_lake), "SELECT 1 WHERE false", "--format", "json"]
    )
    assert json.loads(out) == []


def test_sql_sees_the_run_outputs_as_views(small_lake: Path, analyzed: tuple[Path, str]) -> None:
    out, _ = analyzed
    summary = json.loads((out / "summary.json").read_text())
    nodes = pq.read_table(out / "nodes.parquet")
    query = "SELECT (SELECT count(*) FROM nodes) AS n, (SELECT count(*) FROM edges) AS e, " \
        "(SELECT count(*) FROM communities) AS c"  # fmt: skip
    for extra in ([], ["--run", summary["run_id"]]):
        code, stdout, err = run(
            ["sql", "--lake", str(small_lake), query, "--format", "json", *extra]
        )
        assert code == 0, err
        (row,) = json.loads(stdout)
        assert row["n"] == nodes.num_rows
        assert row["e"] == summary["counts"]["edges"]
        assert row["c"] == pq.read_table(out / "communities.parquet").num_rows
    err = one_line_error(
        *run(["sql", "--lake", str(small_lake), "SELECT 1", "--run", "20990101T000000Z-abcdef"])[
            ::2
        ]
    )
    assert "no run" in err


# ----------------------------------------------------------------- the demo folder


def test_demo_folder_clears_a_previous_demo_but_nothing_else(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "lake" / "synthetic").mkdir(parents=True)
    (demo / checks.DEMO_MARKER).write_text("{}")
    (demo / "lake" / "curated").mkdir()
    (demo / "lake" / "curated" / "x.parquet").write_bytes(b"old world")
    (demo / "nodes.csv").write_text("old")
    (demo / "notes.txt").write_text("mine")
    assert checks.demo_folder(demo) is True
    assert sorted(p.name for p in demo.iterdir()) == ["notes.txt"]
    assert checks.demo_folder(tmp_path / "new") is False


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not empty and holds no previous demo"):
        checks.demo_folder(tmp_path)
    code, _, err = run(["demo", "--out", str(tmp_path)])
    assert "holds no previous demo" in one_line_error(code, err)
    assert (tmp_path / "mine.txt").read_text() == "keep"


@pytest.mark.slow
def test_demo_twice_with_another_seed_holds_one_world(tmp_path: Path) -> None:
    from vieweratlas.synth import SynthSpec, generate

    demo = tmp_path / "demo"
    assert run(["demo", "--out", str(demo), "--seed", "0"])[0] == 0
    code, _, err = run(["demo", "--out", str(demo), "--seed", "1"])
    assert code == 0, err
    assert "replaced the previous demo" in err
    lake = Lake.open(str(demo / "lake"))
    planted = generate(SynthSpec(seed=1)).presence  # one row per key once written
    # Keys as the lake stores them (Twitch names lower-cased).
    planted = (
        planted.select(["ts", "channel", "user"])
        .set_column(2, "user", pc.utf8_lower(planted["user"]))
        .set_column(1, "channel", pc.utf8_lower(planted["channel"]))
    )
    keys = planted.group_by(["ts", "channel", "user"], use_threads=False).aggregate([])
    assert lake.read("presence").num_rows == keys.num_rows
    assert len(list((demo / "lake" / "analysis").iterdir())) == 1


# ----------------------------------------------------------------- settings and times


@pytest.mark.parametrize(
    "argv",
    [
        ["--snapshot-time", "9999-01-01"],
        ["--snapshot-time", "1e20"],
        ["--snapshot-time", "1653-01-01"],
        ["--config", "BUCKET0"],
    ],
)
def test_impossible_times_and_settings_exit_2_and_leave_the_lake_alone(
    tmp_path: Path, argv: list[str]
) -> None:
    data = tmp_path / "p.csv"
    data.write_text("channel,user\nabc,viewer1\n")
    config = tmp_path / "c.yaml"
    config.write_text("vod:\n  bucket_len: 0s\n")
    argv = [str(config) if a == "BUCKET0" else a for a in argv]
    lake = tmp_path / "lake"
    code, _, err = run(["import", "presence", str(data), "--lake", str(lake), *argv])
    err = one_line_error(code, err)
    assert ("--snapshot-time" in err) or ("vod.bucket_len" in err)
    assert files_under(lake) == set()


def test_negative_seed_is_a_usage_error(small_lake: Path, tmp_path: Path) -> None:
    for argv in (
        ["analyze", "--lake", str(small_lake), "--out", str(tmp_path / "o"), "--seed", "-1"],
        ["synth", "--lake", str(tmp_path / "l"), "--seed", "-1"],
        ["demo", "--out", str(tmp_path / "d"), "--seed", "-1"],
    ):
        code, _, err = run(argv)
        assert code == 2 and "--seed" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "d").exists()


# ----------------------------------------------------------------- progress on a terminal


def test_a_terminal_gets_stage_progress_with_percentage_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from vieweratlas.cli import output

    buffer = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=buffer, force_terminal=True))
    code, out, err = run(["synth", "--lake", str(tmp_path / "l"), "--channels", "30",
                          "--viewers", "300", "--communities", "3"])  # fmt: skip
    assert code == 0, err
    shown = buffer.getvalue()
    assert "synth: generating" in shown and "synth: writing to the lake" in shown
    assert re.search(r"\d+%", shown)
    assert "%" not in out  # the result on stdout stays clean


@pytest.mark.usefixtures("no_analysis")
def test_platforms_the_lake_does_not_hold_are_named(small_lake: Path, tmp_path: Path) -> None:
    argv = ["analyze", "--lake", str(small_lake), "--out", str(tmp_path / "o"), "--platforms"]
    err = one_line_error(*run([*argv, "kick"])[::2])
    assert "no presence there (it holds twitch)" in err
