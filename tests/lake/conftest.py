"""Lake fixtures: every lake test runs twice, on a local folder and on a real S3 endpoint.

The S3 endpoint is moto in server mode, started once per session as a subprocess on
127.0.0.1 with a free port; each test gets its own fresh bucket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vieweratlas.lake import Lake

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe the instance metadata service
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # readiness poll, not a timing assumption
    raise RuntimeError("moto server did not start listening")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto S3 server on loopback, for the whole session."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    moto = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **S3_ENV},
        )
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the standard AWS variables at the loopback endpoint; returns its URL."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    for key, value in {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(key, value)
    return s3_endpoint


@pytest.fixture
def s3_client(s3_env: str) -> object:
    import boto3

    return boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_client: object) -> str:
    """A fresh, empty bucket for one test."""
    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.server)])
def lake_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh lake URL: a local folder, then ``s3://bucket/prefix`` on the moto server."""
    if request.param == "local":
        return str(tmp_path / "lake")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/atlas"


@pytest.fixture
def lake(lake_url: str) -> Lake:
    """Overrides the local-only ``lake`` fixture: in tests/lake, each test runs on both."""
    return Lake.open(lake_url)
