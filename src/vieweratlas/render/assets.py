"""The third-party JavaScript of ``atlas.html``: sigma.js and graphology from the npm registry.

Neither library is kept in the repository. Both publish a prebuilt, minified browser bundle
inside their npm package, so the build needs no Node toolchain: the package's build hook
(``hatch_build.py``) fetches the two pinned tarballs, checks them against the npm
``integrity`` (SHA-512) recorded below, and extracts the one file each into
``render/static/`` (git-ignored, shipped inside the wheel). With ``npm`` on the PATH it uses
``npm pack``; otherwise it downloads the same tarball over HTTPS.

This module uses only the standard library: the build hook loads it by path before any
dependency of the package is installed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["STATIC_DIR", "VENDOR", "AssetsMissingError", "ensure_assets", "vendor_scripts"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class VendorFile:
    """One file taken from one pinned npm package."""

    package: str
    version: str
    integrity: str  # the npm registry's dist.integrity of the tarball
    member: str  # path of the file inside the tarball
    license: str

    @property
    def filename(self) -> str:
        return f"{self.package}-{self.version}.min.js"

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package}-{self.version}.tgz"


# Order matters: sigma's UMD bundle expects nothing, our app expects both globals.
VENDOR = (
    VendorFile(
        package="graphology",
        version="0.26.0",
        integrity="sha512-8SSImzgUUYC89Z042s+0r/vMibY7GX/Emz4LDO5e7jYXhuoWfHISPFJYjpRLUSJGq6UQ6xlenvX1p/hJdfXuXg==",
        member="package/dist/graphology.umd.min.js",
        license="MIT",
    ),
    VendorFile(
        package="sigma",
        version="3.0.3",
        integrity="sha512-5H0zFlx6/NTQpqBg4Rm569ZOpnBOXMaS25UQThIWMU3XyzI5AhmorK/gnl87BvJBLhQd0tW4C0LIp3enWzMoNw==",
        member="package/dist/sigma.min.js",
        license="MIT",
    ),
)


class AssetsMissingError(RuntimeError):
    """The bundled sigma.js / graphology files are not installed."""


def _check_integrity(blob: bytes, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    if digest != expected:
        raise ValueError(f"integrity mismatch: expected {integrity}, got {algo}-{digest}")


def _fetch_tarball(item: VendorFile) -> bytes:
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [npm, "pack", f"{item.package}@{item.version}", "--silent"],
                cwd=tmp,
                check=True,
                capture_output=True,
                timeout=300,
            )
            return (Path(tmp) / f"{item.package}-{item.version}.tgz").read_bytes()
    with urllib.request.urlopen(item.tarball_url, timeout=120) as response:  # noqa: S310 (fixed https URL)
        blob: bytes = response.read()
        return blob


def ensure_assets(static_dir: Path = STATIC_DIR) -> list[Path]:
    """Makes sure every vendor file is in ``static_dir`` (fetching what is missing)."""
    static_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in VENDOR:
        target = static_dir / item.filename
        if not target.exists():
            log.info("fetching %s@%s from the npm registry", item.package, item.version)
            blob = _fetch_tarball(item)
            _check_integrity(blob, item.integrity)
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
                member = archive.extractfile(item.member)
                if member is None:
                    raise ValueError(f"{item.member} not found in {item.package}")
                content = member.read()
            fd, tmp = tempfile.mkstemp(dir=static_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            Path(tmp).chmod(0o644)
            Path(tmp).replace(target)
        paths.append(target)
    return paths


def vendor_scripts(static_dir: Path = STATIC_DIR) -> list[str]:
    """The vendor JavaScript sources, in load order; raises if they were never installed."""
    missing = [item.filename for item in VENDOR if not (static_dir / item.filename).exists()]
    if missing:
        raise AssetsMissingError(
            f"atlas.html needs {', '.join(missing)} in {static_dir}; they are fetched from "
            "the npm registry when the package is built: reinstall it with network access "
            "(`uv sync --reinstall-package vieweratlas`)"
        )
    return [(static_dir / item.filename).read_text(encoding="utf-8") for item in VENDOR]
