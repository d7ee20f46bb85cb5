"""The lake on S3 (or any S3-compatible endpoint): ``s3://bucket/prefix``.

Reads and listings use pyarrow's native ``S3FileSystem``, so Arrow datasets and DuckDB scan
S3 exactly as they scan a local folder (no DuckDB httpfs extension needed). Writes and
deletes go through boto3 instead, because pyarrow cannot do either safely on S3:

* an upload stream that raises half-way is still completed when it is closed or garbage
  collected (``abort`` is not exposed to Python), so a failed writer could publish a
  partial object; the lake therefore spools each file locally and sends it as **one PUT of
  the complete object** (:meth:`LakeS3FileSystem.put_object`);
* ``S3FileSystem.delete_file`` re-creates the parent "directory" as a zero-byte marker
  object; :meth:`LakeS3FileSystem.delete_file` is a plain ``DeleteObject``, so the bucket
  never holds marker objects (listing works on prefixes alone).

Data files are published from the lake's hidden staging prefix with a conditional
``CopyObject`` (``If-None-Match: *``, :meth:`LakeS3FileSystem.copy_if_absent`): an existing
object is never replaced, and a ``412 Precondition Failed`` only says "a file of that name
exists" — the caller then proves it identical (by its SHA-256) or publishes under another
name (:mod:`vieweratlas.lake.txn`). Other files (run outputs, state) keep the overwrite
semantics of a local rename.

Configuration is the standard AWS one: ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for a
custom endpoint, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and credentials from the usual
chain (environment, profile, ECS task role).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from vieweratlas.errors import LakeError, first_line

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://bucket/prefix`` URL (prefix without leading/trailing slashes)."""

    bucket: str
    prefix: str

    @property
    def root(self) -> str:
        """The pyarrow path of the lake root: ``bucket/prefix``."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket


@dataclass(frozen=True)
class S3Endpoint:
    """Where and how to reach S3, from the standard AWS environment variables."""

    region: str
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Endpoint:
        env = os.environ if environ is None else environ
        url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise LakeError(f"AWS_ENDPOINT_URL {url!r}: expected http(s)://host[:port]")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        return cls(region=region, endpoint_url=url)

    def pyarrow_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "region": self.region,
            "connect_timeout": 10.0,
            "request_timeout": 60.0,
        }
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            opts["endpoint_override"] = parts.netloc
            opts["scheme"] = parts.scheme
        return opts


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket[/prefix]`` → :class:`S3Location`; rejects anything that is not one."""
    if not url.startswith("s3://"):
        raise LakeError(f"lake {url!r}: not an s3:// URL")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise LakeError(
            f"lake {url!r}: invalid bucket name {bucket!r} "
            "(3-63 characters: lower-case letters, digits, '.', '-')"
        )
    prefix = prefix.strip("/")
    segments = prefix.split("/") if prefix else []
    if any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 or c == "\\" for c in prefix):
        raise LakeError(f"lake {url!r}: invalid key prefix {prefix!r}")
    return S3Location(bucket, prefix)


class LakeS3FileSystem(pafs.S3FileSystem):  # type: ignore[misc]
    """pyarrow's S3 filesystem with whole-object PUTs and marker-free deletes (boto3).

    Everything Arrow and DuckDB do (listing, reading, dataset scans) runs on the native
    filesystem; the lake's own writes and deletes go to :meth:`put_object` and
    :meth:`delete_file`, and its direct listings and reads turn endpoint failures into a
    one-line :class:`~vieweratlas.errors.LakeError`.
    """

    def __init__(self, endpoint: S3Endpoint) -> None:
        super().__init__(**endpoint.pyarrow_options())
        self.endpoint = endpoint
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """A boto3 S3 client for the same endpoint and region (created on first use)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            # Custom endpoints (moto, MinIO, a compose service) are addressed by path.
            s3={"addressing_style": "path" if self.endpoint.endpoint_url else "auto"},
        )
        return boto3.client(
            "s3",
            region_name=self.endpoint.region,
            endpoint_url=self.endpoint.endpoint_url,
            config=config,
        )

    def get_file_info(self, paths_or_selector: Any) -> Any:
        """As pyarrow's, but an unreachable or refusing endpoint is a one-line LakeError."""
        try:
            return super().get_file_info(paths_or_selector)
        except OSError as exc:
            raise LakeError(f"s3: cannot list ({first_line(exc)})") from None

    def open_input_stream(self, path: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().open_input_stream(path, *args, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise LakeError(f"s3://{path}: cannot read ({first_line(exc)})") from None

    def put_object(self, path: str, body: IO[bytes]) -> None:
        """Upload ``body`` (a complete local file) as the object ``bucket/key`` in one PUT."""
        bucket, key = _split(path)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body)
        except Exception as exc:
            raise _lake_error("write", bucket, key, exc) from None

    def copy_if_absent(self, src: str, dst: str) -> bool | None:
        """Copy ``src`` to ``dst`` unless ``dst`` exists: True copied, False ``dst`` exists,
        None ``src`` is gone. Server-side; ``If-None-Match: *`` makes it create-only."""
        bucket, key = _split(dst)
        src_bucket, src_key = _split(src)
        if self._exists(bucket, key):  # endpoints without conditional copies never overwrite
            return False
        try:
            self.client.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": src_bucket, "Key": src_key},
                IfNoneMatch="*",
            )
        except Exception as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            if code in ("NoSuchKey", "404"):
                return None
            raise _lake_error("publish", bucket, key, exc) from None
        return True

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _lake_error("look up", bucket, key, exc) from None
        return True

    def delete_file(self, path: str) -> None:
        """Delete one object; unlike pyarrow's, never leaves a directory marker behind."""
        bucket, key = _split(path)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise _lake_error("delete", bucket, key, exc) from None


def open_s3(url: str) -> tuple[pafs.FileSystem, str]:
    """A lake URL ``s3://bucket/prefix`` → (filesystem, root path ``bucket/prefix``)."""
    location = parse_s3_url(url)
    endpoint = S3Endpoint.from_env()
    try:
        fs = LakeS3FileSystem(endpoint)
    except (OSError, ValueError) as exc:
        raise LakeError(f"lake {url!r}: cannot open S3 ({exc})") from None
    log.debug("lake on s3://%s (region %s)", location.root, endpoint.region)
    return fs, location.root


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise LakeError(f"s3 path {path!r}: expected bucket/key")
    return bucket, key


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _lake_error(action: str, bucket: str, key: str, exc: Exception) -> LakeError:
    code = _error_code(exc) or type(exc).__name__
    return LakeError(f"s3://{bucket}/{key}: cannot {action} ({code})")
