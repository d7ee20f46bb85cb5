"""``vieweratlas serve``: the web dashboard over the lake, with uvicorn."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve

log = logging.getLogger(__name__)


@app.command()
def serve(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless you say so).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="VIEWERATLAS_AUTH_TOKEN",
            show_envvar=True,
            help="Require this token (Bearer header, or the cookie /login sets); "
            "at least 16 characters.",
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option("--public", help="Serve a non-loopback --host without a token (anyone)."),
    ] = False,
) -> None:
    """The web dashboard: runs, channels, communities and their evolution (read-only)."""
    import uvicorn

    from vieweratlas.web import WebOptions, check_bind, create_app

    settings = resolve(lake, config, preset)
    check_bind(host, token=auth_token, public=public)
    web = create_app(settings, WebOptions(auth_token=auth_token))
    log.info("dashboard for lake %s on http://%s:%d/", settings.lake, host, port)
    # uvicorn's access log would print query strings; the app logs paths itself.
    uvicorn.run(web, host=host, port=port, access_log=False, log_level="warning")
