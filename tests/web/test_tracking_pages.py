"""Tracking on the channel page: similar-channel ranks over the windows, against the planted
``similar_history.parquet`` and against the one the real ``vieweratlas track`` writes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient
from weblakes import RICH_RUN, WebLake, make_app

from vieweratlas.lake import Lake

pytestmark = pytest.mark.server

SHOWN = 12  # channels listed at most
RANKED = 10  # a channel is listed when it ranks this high in some window


def expected_ranks(history: pa.Table, platform: str, channel: str) -> dict[str, Any]:
    """What the page must show, straight from the parquet rows: every other channel ranked
    1..RANKED in some window, best rank in the last window first, then best rank anywhere,
    then name; its rank in each window or None."""
    rows = [r for r in history.to_pylist() if r["platform"] == platform and r["channel"] == channel]
    windows = sorted({r["window"] for r in rows})
    ranks: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        ranks.setdefault((r["other_platform"], r["other"]), {})[r["window"]] = r["rank"]
    last = windows[-1] if windows else None
    shown = [k for k, by in ranks.items() if min(by.values()) <= RANKED]
    shown.sort(key=lambda k: (ranks[k].get(last, 10**9), min(ranks[k].values()), k))
    return {
        "windows": windows,
        "channels": [
            {"platform": p, "channel": o, "ranks": [ranks[(p, o)].get(w) for w in windows]}
            for p, o in shown[:SHOWN]
        ],
    }


def _strip(got: dict[str, Any]) -> dict[str, Any]:
    return {
        "windows": got["windows"],
        "channels": [{k: c[k] for k in ("platform", "channel", "ranks")} for c in got["channels"]],
    }


def test_channel_api_ranks_match_planted_history(client: Any, web_lake: WebLake) -> None:
    owners = sorted(set(web_lake.history["channel"].to_pylist()))
    assert len(owners) > 20
    for name in owners[::7]:
        got = client.get(f"/api/channels/twitch/{name}").json()
        truth = expected_ranks(web_lake.history, "twitch", name)
        assert _strip(got["similar_ranks"]) == truth
        # the window the planted generator left this channel out of shows as a gap
        if name in owners[::5]:
            assert web_lake.windows[1] not in got["similar_ranks"]["windows"]
        # shared viewers travel with the ranks
        rows = {
            (r["window"], r["other"]): r["shared"]
            for r in web_lake.history.to_pylist()
            if r["channel"] == name
        }
        for c in got["similar_ranks"]["channels"]:
            for w, rank, shared in zip(
                got["similar_ranks"]["windows"], c["ranks"], c["shared"], strict=True
            ):
                assert (rank is None) == (shared is None)
                if rank is not None:
                    assert shared == rows[(w, c["channel"])]
        # the contract list is still there, untouched
        assert {"channel", "shared", "share_of_channel"} <= set(got["similar"][0])


def test_channel_page_shows_the_rank_table(client: Any, web_lake: WebLake) -> None:
    name = sorted(set(web_lake.history["channel"].to_pylist()))[1]
    html = client.get(f"/channels/twitch/{name}").text
    assert 'id="similar-ranks"' in html
    truth = expected_ranks(web_lake.history, "twitch", name)
    for w in truth["windows"]:
        assert f">{w}</th>" in html
    first = truth["channels"][0]
    assert f">{first['channel']}</a>" in html


def test_no_history_file_means_no_rank_section(xss_client: Any) -> None:
    got = xss_client.get("/api/channels/twitch/alpha").json()
    assert got["tracking"] is True and got["history"]
    assert got["similar_ranks"] is None
    assert "similar-ranks" not in xss_client.get("/channels/twitch/alpha").text


@pytest.mark.slow
def test_ranks_from_the_real_track_output(tracked: Path) -> None:
    lake = Lake.open(str(tracked))
    history = pq.read_table(lake.path("tracking/latest/similar_history.parquet"))
    windows = sorted(set(history["window"].to_pylist()))
    assert len(windows) >= 2  # several windows: ranks over time, not one list
    owners = sorted(set(history["channel"].to_pylist()))
    with TestClient(make_app(tracked)) as client:
        for name in owners[::9]:
            got = client.get(f"/api/channels/twitch/{name}").json()
            if got.get("status") == 404:  # tracked in a window but not in the run
                continue
            assert _strip(got["similar_ranks"]) == expected_ranks(history, "twitch", name)
            text = pacsv.ConvertOptions(
                column_types={"window": pa.string(), "lineage": pa.string()}
            )
            lineage = pacsv.read_csv(
                lake.path("tracking/latest/lineage.csv"), convert_options=text
            ).to_pylist()
            mine = sorted(
                (str(r["window"]), str(r["lineage"])) for r in lineage if r["channel"] == name
            )
            assert [(h["window"], h["lineage"]) for h in got["history"]] == mine


def test_pages_follow_a_new_tracking_output(web_lake: WebLake, tmp_path: Path) -> None:
    """Rendered pages are cached, but a re-read that finds new tracking data shows it."""
    root = tmp_path / "lake"
    shutil.copytree(web_lake.path, root)
    name = sorted(set(web_lake.history["channel"].to_pylist()))[2]
    with TestClient(make_app(root, ttl=0.0)) as client:
        before = client.get(f"/api/channels/twitch/{name}").json()
        assert client.get(f"/api/channels/twitch/{name}").json() == before  # unchanged
        folder = root / "tracking" / "2026-01-track"
        text = pacsv.ConvertOptions(column_types={"window": pa.string()})
        lineage = pacsv.read_csv(folder / "lineage.csv", convert_options=text)
        keep = pa.compute.not_equal(lineage["window"], web_lake.windows[-1])
        pacsv.write_csv(lineage.filter(keep), folder / "lineage.csv")
        (folder / "similar_history.parquet").unlink()
        after = client.get(f"/api/channels/twitch/{name}").json()
    assert [h["window"] for h in after["history"]] == [
        h["window"] for h in before["history"] if h["window"] != web_lake.windows[-1]
    ]
    assert before["similar_ranks"] is not None and after["similar_ranks"] is None
    assert after["run"]["run_id"] == RICH_RUN
