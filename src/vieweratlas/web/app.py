"""The dashboard's ASGI app: :func:`create_app` wires routes, templates and guards.

Every page has a JSON twin under ``/api/`` built from the same dict (:mod:`.pages`).

Where a request runs: a page whose data is in memory and fresh (the run indexed, the list of
runs and the tracking output younger than their TTL) is a few dict lookups, slices and a
template: it is answered on the event loop (:meth:`DataSource.inline`), because a thread
hop would only add GIL hand-offs and queueing in the thread pool behind slow reads. A page
that needs a read (a run's first request, a TTL re-read, DuckDB's lake summary) or a big
render (``page=all``) raises :class:`Stale` there and is redone in a worker thread, so a slow
read never stalls the loop. Rendered pages are kept in a bounded :class:`PageCache`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import io
import logging
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from vieweratlas.config import Settings
from vieweratlas.csvsafe import safe_csv_bytes
from vieweratlas.lake import Lake
from vieweratlas.render.html import embed_json
from vieweratlas.web import pages
from vieweratlas.web import params as p
from vieweratlas.web.pagecache import CachedPage, PageCache
from vieweratlas.web.security import COOKIE, Guard
from vieweratlas.web.source import DataSource, NotFound, Stale, Unreadable

log = logging.getLogger(__name__)

__all__ = ["WebOptions", "create_app"]

HERE = Path(__file__).resolve().parent
META_CSP = re.compile(rb'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "gexf": "application/xml",
    "png": "image/png",
    "html": "text/html; charset=utf-8",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_CACHED_QUERY = 300  # longer query strings are answered but not cached


@dataclass(frozen=True)
class WebOptions:
    """Options of the dashboard that are not analysis settings."""

    auth_token: str | None = None
    cache_runs: int = 4  # runs kept in memory
    ttl: float = 60.0  # seconds before the list of runs / tracking outputs is re-read
    page_cache_bytes: int = 64 * 2**20  # rendered pages kept in memory


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        auto_reload=False,  # package files: no stat() of the template on every page
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * float(v):.1f}%"
    env.filters["num"] = lambda v: (
        "" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"
    )
    env.filters["when"] = lambda v: "" if not v else str(v)[:16].replace("T", " ")
    env.filters["q"] = _quote
    env.filters["tojson_safe"] = embed_json
    return env


@functools.lru_cache(maxsize=65536)
def _quote_cached(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _quote(value: object) -> str:
    """A URL path segment or query value (memoised: the same names recur on every page)."""
    return _quote_cached(str(value))


def _static_files() -> dict[str, tuple[bytes, str, str]]:
    """The dashboard's own static files, read once: name → (body, media type, ETag)."""
    out = {}
    for path in sorted((HERE / "static").iterdir()):
        if path.suffix in STATIC_TYPES:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            out[path.name] = (body, STATIC_TYPES[path.suffix], etag)
    return out


def create_app(settings: Settings, options: WebOptions | None = None) -> Starlette:
    """The dashboard for the lake in ``settings`` (read-only)."""
    options = options or WebOptions()
    source = DataSource(Lake.open(settings.lake), cache_runs=options.cache_runs, ttl=options.ttl)
    env = _environment()
    cache = PageCache(options.page_cache_bytes)
    static = _static_files()

    def render(name: str, context: dict[str, Any], status: int = 200) -> Response:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        return render("error.html", {"status": status, "message": message, "pin": ""}, status)

    def page(
        build: Callable[[Request], dict[str, Any]], template: str
    ) -> tuple[Callable[[Request], Any], Callable[[Request], Any]]:
        """The HTML route and its JSON twin for one page builder."""

        def respond(request: Request, as_json: bool) -> Response:
            """Build and render (one worker-thread call, or inline: see the module doc)."""
            key = None
            query = request.url.query
            if len(query) <= MAX_CACHED_QUERY:
                # fresh (or re-read, off the loop) before the versions are read
                source.runs()
                source.tracking()
                key = (as_json, request.url.path, query, source.versions())
                hit = cache.get(key)
                if hit is not None:
                    return Response(hit.body, media_type=hit.media_type)
            context = build(request)
            if as_json:
                response: Response = JSONResponse(context)
            else:
                pinned = request.query_params.get("run")
                context["pin"] = f"?run={pinned}" if pinned else ""
                context["pin_amp"] = f"&run={pinned}" if pinned else ""
                response = render(template, context)
            if key is not None:
                cache.put(key, CachedPage(bytes(response.body), str(response.media_type)))
            return response

        async def run(request: Request, as_json: bool) -> Response:
            try:
                try:
                    with source.inline():
                        return respond(request, as_json)
                except Stale:
                    pass  # needs a read or a big render: off the event loop
                return await run_in_threadpool(respond, request, as_json)
            except p.BadRequest as exc:
                return error(request, 400, str(exc))
            except NotFound as exc:
                return error(request, 404, str(exc))
            except Unreadable as exc:
                return error(request, 500, str(exc))

        async def html_route(request: Request) -> Response:
            return await run(request, False)

        async def json_route(request: Request) -> Response:
            return await run(request, True)

        return html_route, json_route

    def run_of(request: Request) -> Any:
        return source.run(p.run_param(request.query_params))

    def build_overview(request: Request) -> dict[str, Any]:
        return pages.overview(source, run_of(request))

    def build_search(request: Request) -> dict[str, Any]:
        return pages.search(run_of(request), p.text_param(request.query_params, "q"))

    def build_channel(request: Request) -> dict[str, Any]:
        plat, name = p.channel_path(request.path_params["platform"], request.path_params["channel"])
        top = p.int_param(request.query_params, "top", 25, 1, 200)
        return pages.channel(source, run_of(request), plat, name, top)

    def build_community(request: Request) -> dict[str, Any]:
        cid = p.community_path(request.path_params["community"])
        q = request.query_params
        return pages.community(
            source,
            run_of(request),
            cid,
            sort=p.choice_param(q, "sort", pages.MEMBER_SORTS, "viewers"),
            descending=p.choice_param(q, "order", ("desc", "asc"), "desc") == "desc",
            page=p.page_param(q),
        )

    def build_evolution(request: Request) -> dict[str, Any]:
        return pages.evolution(source, p.lineage_param(request.query_params))

    def build_runs(request: Request) -> dict[str, Any]:
        return pages.runs(source)

    def build_run(request: Request) -> dict[str, Any]:
        data = source.run(p.run_path(request.path_params["run_id"]))
        return {
            "page": "run",
            "run": pages._run(data),
            "parameters": data.summary.get("parameters") or data.info.parameters,
            "summary": {k: v for k, v in data.summary.items() if k not in ("parameters",)},
            "downloads": pages.downloads(data),
        }

    routes: list[Any] = []
    for path, build, template in (
        ("/", build_overview, "overview.html"),
        ("/search", build_search, "search.html"),
        ("/channels/{platform}/{channel}", build_channel, "channel.html"),
        ("/communities/{community}", build_community, "community.html"),
        ("/evolution", build_evolution, "evolution.html"),
        ("/runs", build_runs, "runs.html"),
        ("/runs/{run_id}", build_run, "run.html"),
    ):
        html_route, json_route = page(build, template)
        routes.append(Route(path, html_route, methods=["GET", "HEAD"]))
        api = "/api/overview" if path == "/" else "/api" + path
        routes.append(Route(api, json_route, methods=["GET", "HEAD"]))

    async def download(request: Request) -> Response:
        try:
            run_id = p.run_path(request.path_params["run_id"])
            name = p.file_name(request.path_params["name"])
            body, media, headers = await run_in_threadpool(_file, source, run_id, name)
        except NotFound as exc:
            return error(request, 404, str(exc))
        return Response(body, media_type=media, headers=headers)

    async def login(request: Request) -> Response:
        if not options.auth_token:
            return RedirectResponse("/", status_code=303)
        message = ""
        if request.method == "POST":
            raw = (await request.body())[:4096].decode("utf-8", "replace")
            given = urllib.parse.parse_qs(raw).get("token", [""])[0]
            if hmac.compare_digest(given.encode(), options.auth_token.encode()):
                response = RedirectResponse("/", status_code=303)
                secure = request.url.scheme == "https" or (
                    request.headers.get("x-forwarded-proto") == "https"
                )
                response.set_cookie(
                    COOKIE, given, httponly=True, samesite="strict", secure=secure, path="/"
                )
                return response
            message = "wrong token"
        return render("login.html", {"message": message, "pin": ""}, 401 if message else 200)

    async def healthz(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    async def static_file(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None:
            return error(request, 404, "no such static file")
        body, media, etag = found
        headers = {"etag": etag, "cache-control": "public, max-age=3600"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media, headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(request, 404, f"no page {request.url.path[:80]!r}")

    routes += [
        Route("/runs/{run_id}/files/{name}", download, methods=["GET", "HEAD"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/static/{name}", static_file, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.source = source
    app.state.page_cache = cache
    return Guard(app, token=options.auth_token)  # type: ignore[return-value]


def _file(source: DataSource, run_id: str, name: str) -> tuple[bytes, str, dict[str, str]]:
    """A run's file, or a table converted to the other format (CSV made spreadsheet-safe)."""
    data = source.run(run_id)
    run = data.run
    stem, _, ext = name.rpartition(".")
    headers = {"content-disposition": f'attachment; filename="{run_id}-{name}"'}
    if name in data.files:
        body = run.read_bytes(name)
    elif (
        stem in pages.TABLES
        and ext in ("csv", "parquet")
        and (f"{stem}.csv" in data.files or f"{stem}.parquet" in data.files)
    ):
        table = run.table(stem)
        body = safe_csv_bytes(table) if ext == "csv" else _parquet(table)
    else:
        raise NotFound(f"run {run_id}: no file {name!r}")
    if name == "atlas.html":
        # Shown in the overview's frame: its own CSP (hashes of its scripts), framed by us only.
        found = META_CSP.search(body[:4096])
        policy = html.unescape(found.group(1).decode()) if found else "default-src 'none'"
        headers = {
            "content-security-policy": policy + "; frame-ancestors 'self'",
            "x-frame-options": "SAMEORIGIN",
        }
    elif name == "atlas.png":
        headers = {}
    return body, MEDIA[ext], headers


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
