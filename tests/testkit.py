"""Helpers every test folder can import by name (a plain module, not a conftest):
``from testkit import launch_chromium, require_program, run_cli``.

System programs the tests need are skipped locally when missing, a failure under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar

import pytest

R = TypeVar("R")


class _Startable(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


F = TypeVar("F", bound=_Startable)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(name: str) -> str:
    """Path of a system program; skip locally when missing, but fail under CI=true."""
    # Debian installs servers such as ngircd in /usr/sbin, not always on a user's PATH.
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if path is None:
        message = f"system program {name!r} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_cli(args: list[str]) -> int:
    """Run ``vieweratlas ARGS`` in-process; its exit code (0 when it returns normally)."""
    from vieweratlas.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_cli_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """:func:`run_cli`, and what it printed: (exit code, stdout, stderr)."""
    code = run_cli(args)
    out, err = capsys.readouterr()
    return code, out, err


# Debian's Chromium, headless, software WebGL, no background traffic (render and web tests).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Names, games and titles that are markup: every HTML output must show them as text.
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(2)</script>"

# Added to every page before its scripts run: Content-Security-Policy violations are kept in
# window.__csp, so a test can require none.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never Playwright's own browsers):
    the one launch every browser test uses (wrap it in a fixture of the scope you need)."""
    executable = require_program("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------- loopback servers, threads


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes | object,
          ctype: str = "application/json") -> None:  # fmt: skip
    """Answer a request: bytes as they are, anything else as JSON."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not print each request."""

    def log_message(self, *args: object) -> None:
        pass


class LoopbackHTTP:
    """A threaded HTTP server on 127.0.0.1 (a fake platform): ``url``, ``start``, ``stop``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving(fake: F) -> Iterator[F]:
    """Start a fake (anything with ``start()``/``stop()``) for the block."""
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@contextmanager
def in_background(
    make: Callable[[], Awaitable[R]], *, ready: Callable[[R], Awaitable[None]] | None = None,
    run: Callable[[R], Awaitable[object]], stop: Callable[[R], None],
) -> Iterator[R]:  # fmt: skip
    """Run an async object in its own thread and event loop for the block.

    ``make()`` builds it inside the loop, ``ready(obj)`` waits until it is usable (optional),
    ``run(obj)`` is its main coroutine; leaving the block calls ``stop(obj)`` in the loop and
    joins the thread. An exception of the run is raised in the test.
    """
    box: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> None:
        obj = await make()
        box["obj"], box["loop"] = obj, asyncio.get_running_loop()
        task = asyncio.ensure_future(run(obj))
        if ready is not None:
            waiting = asyncio.ensure_future(ready(obj))
            await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        started.set()
        await task

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    started.wait(30)
    if "error" in box:
        raise box["error"]
    obj: R = box["obj"]
    try:
        yield obj
    finally:
        if thread.is_alive():  # a run that ended by itself needs no stop
            with contextlib.suppress(RuntimeError):
                box["loop"].call_soon_threadsafe(stop, obj)
        thread.join(30)
        if "error" in box:
            raise box["error"]


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, every: float = 0.01) -> None:
    """Poll ``predicate`` every ``every`` s until true (a test waiting on another thread's or
    process's progress; a readiness poll, not a timing assumption)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(every)
