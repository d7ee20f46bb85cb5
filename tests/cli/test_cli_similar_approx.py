"""``vieweratlas similar --approx`` on a real lake: equal to the exact answer when every
audience fits in its sketch, within the sketch error when not, marked approximate in every
format; bad use exits 2."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from testkit import run_cli_output as run
from vieweratlas.lake import Lake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_similar import world


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("approx") / "lake"
    presence = world(seed=4, channels=60, users=6000)
    n = presence.num_rows
    rows = (
        presence.append_column("source", pa.array(["import"] * n))
        .append_column("messages", pa.array([0] * n, pa.int32()))
        .append_column("user_id", pa.nulls(n, pa.string()))
    )
    Lake.open(str(root)).write("presence", rows)
    return root


def similar(lake: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["similar", "c07", "--lake", str(lake), "--platform", "twitch", "--top", "500"]
    code, out, err = run([*args, "--format", "json", *extra], capsys)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_approx_equals_exact_when_audiences_fit_the_sketch(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exact = similar(lake, capsys)
    approx = similar(lake, capsys, "--approx", "--sketch-size", "100000")
    assert exact["approximate"] is False and exact["sketch_size"] is None
    assert approx["approximate"] is True and approx["sketch_size"] == 100000
    assert approx["viewers_in_window"] == exact["viewers_in_window"]
    (e,), (a,) = exact["channels"], approx["channels"]
    assert a["viewers"] == e["viewers"]
    assert a["similar"] == e["similar"]  # same rows, same order, same measures


def test_approx_is_within_the_sketch_error(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exact = similar(lake, capsys)
    approx = similar(lake, capsys, "--approx", "--sketch-size", "64")
    (e,), (a,) = exact["channels"], approx["channels"]
    assert e["viewers"] > 64  # the sketch is really sampling
    assert abs(a["viewers"] / e["viewers"] - 1) < 4 / (64 - 2) ** 0.5
    truth = {r["other"]: r["shared"] for r in e["similar"] if r["other_platform"] == "twitch"}
    got = {r["other"]: r["shared"] for r in a["similar"] if r["other_platform"] == "twitch"}
    big = [o for o, s in truth.items() if s >= 40]  # c07's own group of channels
    assert len(big) >= 4
    for o in big:
        # theta ≈ 64 / |c07| ≈ 0.36: the standard error of 40 shared is about 21 %
        assert abs(got[o] / truth[o] - 1) < 0.75
    assert len(set(big) & set(list(got)[: len(big)])) >= len(big) - 1


def test_csv_and_table_say_approximate(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["similar", "c07", "--lake", str(lake), "--platform", "twitch", "--approx"]
    code, out, err = run([*base, "--format", "csv"], capsys)
    assert code == 0, err
    table = pacsv.read_csv(io.BytesIO(out.encode()))
    assert table.column_names[-1] == "approximate" and all(table["approximate"].to_pylist())
    code, out, err = run(base, capsys)
    assert code == 0, err
    assert "approximate: sketches of 1024 hashes per channel" in out + err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["c08", "--approx"], "name one channel"),
        (["--approx", "--sketch-size", "8"], "--sketch-size"),
        (["--approx", "--sketch-size", "99999999"], "sketch size"),
    ],
)
def test_bad_approx_use_exits_2(
    lake: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run(["similar", "c07", "--lake", str(lake), *extra], capsys)
    assert code == 2
    assert message in err and not out
