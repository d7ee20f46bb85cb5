"""The dashboard's routes over a real analysed lake: pages, JSON twins against the tables,
404s and 400s, downloads, caching."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from weblakes import RICH_RUN, WebLake

from vieweratlas.lake import Lake

pytestmark = pytest.mark.server


def _nodes(web_lake: WebLake, run: str) -> Any:
    return pq.read_table(Lake.open(str(web_lake.path)).path(f"analysis/{run}/nodes.parquet"))


def test_every_page_and_its_json_twin_answer(client: Any, web_lake: WebLake) -> None:
    channel = _nodes(web_lake, web_lake.plain_run)["channel"][0].as_py()
    for path in (
        "/",
        "/search?q=a",
        f"/channels/twitch/{channel}",
        "/communities/0",
        "/evolution",
        "/runs",
        f"/runs/{web_lake.plain_run}",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        api = "/api/overview" if path == "/" else "/api" + path
        twin = client.get(api)
        assert twin.status_code == 200, api
        assert twin.headers["content-type"] == "application/json"


def test_latest_run_is_the_default_and_run_pins(client: Any, web_lake: WebLake) -> None:
    assert client.get("/api/overview").json()["run"]["run_id"] == RICH_RUN
    pinned = client.get(f"/api/overview?run={web_lake.plain_run}").json()
    assert pinned["run"]["run_id"] == web_lake.plain_run
    page = client.get(f"/communities/0?run={web_lake.plain_run}").text
    assert f"?run={web_lake.plain_run}" in page  # links keep the pin
    runs = [r["run_id"] for r in client.get("/api/runs").json()["runs"]]
    assert runs == [RICH_RUN, web_lake.plain_run]


def test_channel_api_matches_similar_parquet(client: Any, web_lake: WebLake) -> None:
    lake = Lake.open(str(web_lake.path))
    similar = pq.read_table(lake.path(f"analysis/{RICH_RUN}/similar.parquet")).to_pylist()
    channels = sorted({r["channel"] for r in similar})
    for name in channels[::25]:
        expected = sorted(
            (r for r in similar if r["channel"] == name), key=lambda r: (-r["shared"], r["other"])
        )[:10]
        got = client.get(f"/api/channels/twitch/{name}?top=10").json()
        assert got["similar_source"] == "similar.parquet"
        rows = got["similar"]
        assert [r["shared"] for r in rows] == [r["shared"] for r in expected]
        # ties may come in either order; the set of (other, shared) must match
        assert {(r["channel"], r["shared"]) for r in rows} == {
            (r["other"], r["shared"]) for r in expected
        } or [r["shared"] for r in rows][-1] == expected[-1]["shared"]
        by_other = {r["other"]: r for r in similar if r["channel"] == name}
        for r in rows:
            truth = by_other[r["channel"]]
            assert r["share_of_channel"] == pytest.approx(truth["share_of_channel"])
            assert r["share_of_other"] == pytest.approx(truth["share_of_other"])
            assert r["lift"] == pytest.approx(truth["lift"])


def test_channel_api_from_edges_without_similar_file(client: Any, web_lake: WebLake) -> None:
    lake = Lake.open(str(web_lake.path))
    run = web_lake.plain_run
    edges = pacsv.read_csv(io.BytesIO(lake.read_bytes(f"analysis/{run}/edges.csv"))).to_pylist()
    nodes = _nodes(web_lake, run).to_pylist()
    viewers = {r["channel"]: r["viewers"] for r in nodes}
    for node in nodes[::20]:
        name = node["channel"]
        truth: dict[str, int] = {}
        for e in edges:
            if e["source"] == name:
                truth[e["target"]] = e["shared"]
            elif e["target"] == name:
                truth[e["source"]] = e["shared"]
        got = client.get(f"/api/channels/twitch/{name}?top=200&run={run}").json()
        assert got["similar_source"] == "edges"
        assert {r["channel"]: r["shared"] for r in got["similar"]} == truth
        shares = [r["shared"] for r in got["similar"]]
        assert shares == sorted(shares, reverse=True)
        for r in got["similar"]:
            assert r["share_of_channel"] == pytest.approx(r["shared"] / viewers[name])
            assert r["share_of_other"] == pytest.approx(r["shared"] / viewers[r["channel"]])


def test_channel_page_shows_optional_data_only_when_present(client: Any, web_lake: WebLake) -> None:
    nodes = _nodes(web_lake, RICH_RUN)
    name = nodes["channel"][0].as_py()  # row 0 is a bridge in the rich run
    rich = client.get(f"/api/channels/twitch/{name}").json()
    assert rich["channel"]["confidence"] == pytest.approx(0.5)
    assert rich["bridge"] is True
    assert len(rich["memberships"]) == 2
    planted = [r for r in web_lake.lineage.to_pylist() if r["channel"] == name]
    assert [(h["window"], h["lineage"]) for h in rich["history"]] == [
        (r["window"], r["lineage"]) for r in planted
    ]
    plain = client.get(f"/api/channels/twitch/{name}?run={web_lake.plain_run}").json()
    assert plain["memberships"] == [] and plain["has_memberships"] is False
    html = client.get(f"/channels/twitch/{name}?run={web_lake.plain_run}").text
    assert "no memberships table" in html


def test_community_members_sorting_and_paging(client: Any, web_lake: WebLake) -> None:
    nodes = _nodes(web_lake, RICH_RUN).to_pylist()
    cid = max(
        {r["community"] for r in nodes}, key=lambda c: sum(r["community"] == c for r in nodes)
    )
    truth = sorted(r["channel"] for r in nodes if r["community"] == cid)
    got = client.get(f"/api/communities/{cid}?sort=channel&order=asc").json()
    assert got["member_count"] == len(truth)
    assert [m["channel"] for m in got["members"]] == truth[: got["page_size"]]
    by_viewers = client.get(f"/api/communities/{cid}").json()["members"]
    assert [m["viewers"] for m in by_viewers] == sorted(
        (m["viewers"] for m in by_viewers), reverse=True
    )
    neighbours = got["neighbours"]
    assert neighbours and all(n["community"] != cid for n in neighbours)
    assert got["lineage"]["lineage"] == f"L{cid}" or got["lineage"]["events"]


def test_community_members_show_all_and_page_bounds(
    client: Any, web_lake: WebLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vieweratlas.web import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 10)  # several pages; "all" is then a big render
    nodes = _nodes(web_lake, RICH_RUN).to_pylist()
    sizes: dict[int, int] = {}
    for r in nodes:
        sizes[r["community"]] = sizes.get(r["community"], 0) + 1
    cid = max(sizes, key=lambda c: sizes[c])
    truth = sorted((r["channel"] for r in nodes if r["community"] == cid), reverse=True)
    every = client.get(f"/api/communities/{cid}?page=all&sort=channel&order=desc").json()
    assert [m["channel"] for m in every["members"]] == truth
    assert every["page_number"] == "all"
    size = every["page_size"]
    pages = (len(truth) + size - 1) // size
    paged: list[str] = []
    for n in range(1, pages + 1):
        got = client.get(f"/api/communities/{cid}?page={n}&sort=channel&order=desc").json()
        paged += [m["channel"] for m in got["members"]]
    assert paged == truth  # pages tile the sorted members exactly
    assert pages > 1
    assert "page=all" in client.get(f"/communities/{cid}").text
    html = client.get(f"/communities/{cid}?page=all&sort=channel&order=desc").text
    assert html.count('<a class="channel"') == len(truth)  # every member, on one page
    for bad in ("0", "-1", "abc", "ALL", "1.5", str(pages + 1), "9" * 12):
        response = client.get(f"/api/communities/{cid}?page={bad}")
        assert response.status_code == 400, bad
        assert "page" in response.json()["error"]


def test_community_bridges_match_edges(client: Any, web_lake: WebLake) -> None:
    lake = Lake.open(str(web_lake.path))
    run = web_lake.plain_run
    edges = pacsv.read_csv(io.BytesIO(lake.read_bytes(f"analysis/{run}/edges.csv"))).to_pylist()
    community = {r["channel"]: r["community"] for r in _nodes(web_lake, run).to_pylist()}
    cid = 0
    truth: dict[int, int] = {}
    for e in edges:
        a, b = community[e["source"]], community[e["target"]]
        if a != b and cid in (a, b):
            other = b if a == cid else a
            truth[other] = truth.get(other, 0) + e["shared"]
    got = client.get(f"/api/communities/{cid}?run={run}").json()["neighbours"]
    assert {n["community"]: n["shared"] for n in got} == dict(
        sorted(truth.items(), key=lambda kv: -kv[1])[:10]
    )


def test_evolution_flows_match_planted_lineages(client: Any, web_lake: WebLake) -> None:
    got = client.get("/api/evolution").json()
    assert got["tracking"]["windows"] == list(web_lake.windows)
    rows = web_lake.lineage.to_pylist()
    at = {(r["window"], r["channel"]): r["lineage"] for r in rows}
    truth: dict[tuple[str, str], int] = {}
    for a, b in zip(web_lake.windows, web_lake.windows[1:], strict=False):
        for (w, ch), lin in at.items():
            if w == a and (b, ch) in at:
                key = (lin, at[(b, ch)])
                truth[key] = truth.get(key, 0) + 1
    flows: dict[tuple[str, str], int] = {}
    for f in got["alluvial"]["flows"]:
        key = (f["lineage_from"], f["lineage_to"])
        flows[key] = flows.get(key, 0) + f["channels"]
    assert flows == truth
    merged = [e for e in got["recent_events"] if e["event"] == "merge"]
    lineage = merged[0]["lineage"]
    selected = client.get(f"/api/evolution?lineage={lineage}").json()["selected"]
    assert [s["window"] for s in selected["sizes"]] == list(web_lake.windows)
    assert any(e["event"] == "merge" for e in selected["events"])


def test_search_finds_substrings_case_insensitively(client: Any, web_lake: WebLake) -> None:
    names = _nodes(web_lake, RICH_RUN)["channel"].to_pylist()
    needle = names[3][1:4].upper()
    got = client.get("/api/search", params={"q": needle}).json()["results"]
    truth = {n for n in names if needle.lower() in n.lower()}
    assert {r["channel"] for r in got} == set(list(truth)[:50]) or len(got) == 50


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/channels/twitch/no_such_channel", 404),
        ("/api/channels/twitch/no_such_channel", 404),
        ("/channels/myspace/someone", 404),
        ("/channels/twitch/..%2F..%2Fetc", 404),
        ("/channels/twitch/UPPER", 404),
        ("/communities/999999", 404),
        ("/communities/abc", 404),
        ("/runs/20990101T000000Z-ffffff", 404),
        ("/runs/../../etc/passwd", 404),
        ("/?run=20990101T000000Z-ffffff", 404),
        ("/?run=../../etc", 400),
        ("/api/channels/twitch/x?top=0", 400),
        ("/api/channels/twitch/x?top=lots", 400),
        ("/communities/0?sort=password", 400),
        ("/communities/0?order=sideways", 400),
        ("/evolution?lineage=%3Cscript%3E", 400),
        ("/search?q=" + "a" * 101, 400),
        ("/no/such/page", 404),
    ],
)
def test_bad_requests(client: Any, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    if path.startswith("/api/"):
        assert response.json()["status"] == status
    else:
        assert "<h1>" in response.text


def test_downloads(client: Any, web_lake: WebLake) -> None:
    lake = Lake.open(str(web_lake.path))
    base = f"/runs/{RICH_RUN}/files"
    nodes = client.get(f"{base}/nodes.parquet")
    assert nodes.status_code == 200
    assert nodes.content == lake.read_bytes(f"analysis/{RICH_RUN}/nodes.parquet")
    assert "attachment" in nodes.headers["content-disposition"]
    # converted both ways
    similar_csv = pacsv.read_csv(io.BytesIO(client.get(f"{base}/similar.csv").content))
    similar = pq.read_table(lake.path(f"analysis/{RICH_RUN}/similar.parquet"))
    assert similar_csv["shared"].to_pylist() == similar["shared"].to_pylist()
    communities = pq.read_table(io.BytesIO(client.get(f"{base}/communities.parquet").content))
    assert (
        communities.num_rows
        == pacsv.read_csv(
            io.BytesIO(lake.read_bytes(f"analysis/{RICH_RUN}/communities.csv"))
        ).num_rows
    )
    gexf = client.get(f"{base}/graph.gexf")
    assert gexf.status_code == 200 and b"<gexf" in gexf.content
    listed = {d["name"] for d in client.get(f"/api/runs/{RICH_RUN}").json()["downloads"]}
    assert {
        "nodes.csv",
        "edges.parquet",
        "memberships.parquet",
        "similar.csv",
        "graph.gexf",
    } <= listed
    assert client.get(f"{base}/secret.txt").status_code == 404
    assert client.get(f"{base}/bots.csv").status_code == 404  # not in this run


def test_security_headers(client: Any, web_lake: WebLake) -> None:
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    atlas = client.get(f"/runs/{RICH_RUN}/files/atlas.html")
    policy = atlas.headers["content-security-policy"]
    assert "'sha256-" in policy and "frame-ancestors 'self'" in policy
    assert "unsafe-inline" not in policy
    assert client.post("/").status_code == 405


def test_runs_are_read_once_and_cached(web_lake: WebLake) -> None:
    from vieweratlas.web.source import DataSource

    source = DataSource(Lake.open(str(web_lake.path)), cache_runs=1)
    first = source.run(None)
    assert source.run(RICH_RUN) is first
    other = source.run(web_lake.plain_run)
    assert other is not first
    assert source.run(RICH_RUN) is not first  # evicted: the cache holds one run


def test_a_damaged_run_is_a_one_line_error_not_a_crash(web_lake: WebLake, tmp_path: Any) -> None:
    import shutil

    from starlette.testclient import TestClient
    from weblakes import make_app

    root = tmp_path / "lake"
    shutil.copytree(web_lake.path, root)
    (root / "analysis" / RICH_RUN / "nodes.parquet").write_bytes(b"not parquet at all")
    with TestClient(make_app(root)) as client:
        page = client.get("/api/overview")
        assert page.status_code == 500
        assert page.json()["error"].startswith(f"run {RICH_RUN} cannot be read")
        other = client.get(f"/api/overview?run={web_lake.plain_run}")
        assert other.status_code == 200  # the other runs still answer
