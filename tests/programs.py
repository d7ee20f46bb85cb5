"""System programs the tests need: skip locally when missing, fail under CI=true.

A plain module (not a conftest) so that every test folder can import it by name:
``from programs import require_program``.
"""

from __future__ import annotations

import os
import shutil

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
