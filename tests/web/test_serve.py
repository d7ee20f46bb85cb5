"""``vieweratlas serve``: where it may listen, and the token that guards anything else."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from weblakes import LiveServer, WebLake, make_app

from testkit import run_cli
from vieweratlas.errors import ConfigError
from vieweratlas.web import check_bind

TOKEN = "correct-horse-battery-staple"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_non_loopback_host_without_token_refuses_to_start(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["serve", "--lake", str(tmp_path / "lake"), "--host", host])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "--auth-token" in err and "--public" in err


def test_bind_rules(caplog: pytest.LogCaptureFixture) -> None:
    for host in ("127.0.0.1", "127.8.9.1", "::1", "localhost"):
        check_bind(host, token=None, public=False)
    check_bind("0.0.0.0", token=TOKEN, public=False)
    with pytest.raises(ConfigError, match="16 characters"):
        check_bind("0.0.0.0", token="short", public=False)
    with caplog.at_level(logging.WARNING):
        check_bind("0.0.0.0", token=None, public=True)
    assert "WITHOUT AUTHENTICATION" in caplog.text


def test_token_guards_pages_api_and_files(
    web_lake: WebLake, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.testclient import TestClient

    with (
        caplog.at_level(logging.INFO),
        TestClient(make_app(web_lake.path, auth_token=TOKEN), follow_redirects=False) as client,
    ):
        assert client.get("/healthz").status_code == 200
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        api = client.get("/api/overview")
        assert api.status_code == 401 and "bearer" in api.headers["www-authenticate"].lower()
        assert client.get(f"/runs/{web_lake.rich_run}/files/nodes.csv").status_code == 303
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/overview", headers=bearer).status_code == 200
        assert (
            client.get("/api/overview", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        assert client.post("/login", data={"token": "wrong"}).status_code == 401
        login = client.post("/login", data={"token": TOKEN})
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/").status_code == 200  # the cookie now
        assert client.get(f"/?token={TOKEN}").status_code == 200
    # neither the header, the form nor a query string reaches the server's log
    served = [r.getMessage() for r in caplog.records if r.name.startswith("vieweratlas")]
    assert served and not any(TOKEN in m for m in served)


def test_live_server_answers_on_loopback(live: LiveServer) -> None:
    import httpx

    with httpx.Client(base_url=live.url) as client:
        assert client.get("/healthz").text == "ok\n"
        body: Any = client.get("/api/runs").json()
        assert len(body["runs"]) == 2
