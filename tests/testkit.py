"""Helpers every test folder can import by name (a plain module, not a conftest):
``from testkit import launch_chromium, require_program, run_cli``.

System programs the tests need are skipped locally when missing, a failure under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

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
