"""Commits: many data files made visible all together, or recovered on the next run.

A write (or a compaction) goes through three steps:

1. **stage**: every new data file is written completely under ``_staging/<txid>/`` (a hidden
   prefix that no reader, Athena or Spark lists);
2. **commit point**: one record ``_txn/<txid>.json`` is written atomically; it lists which
   staged file becomes which visible file (``publish``) and which visible files go away
   (``retire``, compaction only);
3. **apply**: each staged file is published under its final name with create-if-absent
   (a hard link locally, ``CopyObject`` with ``If-None-Match: *`` on S3), then retired files
   are deleted, then the record.

A record is the promise that its files will all be published: every write and ``lake
compact`` first rolls forward any record it finds (applying a record twice, even by two
processes at once, is harmless: publishing is create-if-absent and deleting tolerates
absence). A staging folder without a record belongs to a writer still staging, or to one
that died before its commit point; it is swept once its owner is gone (a lock the owner
holds; on S3, age).

Publishing never replaces a file and never skips one it has not proven identical: when the
final name already exists, the existing file's bytes are hashed; equal digests mean the
same content (already there, nothing to do), anything else is published under a fresh
name instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from vieweratlas.errors import LakeError
from vieweratlas.lake.files import parse, sha256_stream

if TYPE_CHECKING:
    from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)

TXN_DIR = "_txn"
STAGING_DIR = "_staging"
LOCK_NAME = ".owner.lock"
STALE_REMOTE_STAGING = timedelta(hours=6)  # S3 staging without a record: its writer died
STALE_UNLOCKED = timedelta(minutes=5)  # a local staging folder whose lock was never taken


@dataclass(frozen=True)
class Commit:
    """The record of one commit: staged → final paths to publish, paths to retire."""

    txid: str
    publish: tuple[tuple[str, str], ...]
    retire: tuple[str, ...] = ()
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> bytes:
        body = {
            "version": 1,
            "txid": self.txid,
            "created": self.created,
            "publish": [list(p) for p in self.publish],
            "retire": list(self.retire),
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Commit:
        body = json.loads(data)
        return cls(
            txid=str(body["txid"]),
            publish=tuple((str(a), str(b)) for a, b in body["publish"]),
            retire=tuple(str(r) for r in body.get("retire", [])),
            created=str(body.get("created", "")),
        )


def new_txid(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def staging_path(txid: str, name: str) -> str:
    return posixpath.join(STAGING_DIR, txid, name)


@contextlib.contextmanager
def owned_staging(lake: Lake, txid: str) -> Iterator[None]:
    """Hold the staging folder of ``txid`` for the duration (a lock that dies with us)."""
    if not lake.is_local:
        yield
        return
    folder = Path(lake.path(STAGING_DIR, txid))
    folder.mkdir(parents=True, exist_ok=True)
    with hold_lock(folder / LOCK_NAME):
        yield


@contextlib.contextmanager
def hold_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``: released by the kernel even on ``kill -9``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def owner_alive(lock: Path) -> bool:
    """True while some process holds ``lock``; False when its owner is gone (or no lock)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)
    return False


def write_record(lake: Lake, record: Commit) -> None:
    """The commit point: once the record is stored, its files will all be published."""
    lake.write_bytes(posixpath.join(TXN_DIR, f"{record.txid}.json"), record.to_json())


def apply(lake: Lake, record: Commit) -> tuple[tuple[str, bool], ...]:
    """Publish every staged file, retire old files, forget the record (idempotent).

    Returns each published path and whether this call created it (False: the identical
    file was there already).
    """
    published = [_publish(lake, staged, final) for staged, final in record.publish]
    keep = {p for p, _ in published}
    for rel in record.retire:
        if rel not in keep:
            with contextlib.suppress(FileNotFoundError):
                lake.delete(rel)
    with contextlib.suppress(FileNotFoundError):
        lake.delete(posixpath.join(TXN_DIR, f"{record.txid}.json"))
    discard(lake, record.txid)
    return tuple(published)


def _publish(lake: Lake, staged: str, final: str) -> tuple[str, bool]:
    """Make ``staged`` visible as ``final`` without ever replacing a different file."""
    digest = parse(final).digest
    for attempt in range(4):
        target = final if attempt == 0 else _alternate(final)
        created = lake.link_if_absent(staged, target)
        if created is None:  # the staged file is gone: someone applied this record already
            if lake.exists(target):
                return target, False
            raise LakeError(f"{staged}: staged file vanished before {target} was published")
        if created or (digest is not None and _digest_of(lake, target) == digest):
            with contextlib.suppress(FileNotFoundError):
                lake.delete(staged)
            return target, bool(created)
        log.warning("%s exists with other content; publishing under another name", target)
    raise LakeError(f"{final}: cannot publish (name taken by different content)")


def _alternate(final: str) -> str:
    """Another name for the same content: the digest name plus a random suffix."""
    d = parse(final)
    stem = final.removesuffix(".parquet")
    if d.first is not None:
        stem = posixpath.join(d.partition, f"part-{d.first}-{d.last}-{d.digest}")
    return f"{stem}-{uuid.uuid4().hex[:8]}.parquet"


def _digest_of(lake: Lake, rel: str) -> str | None:
    try:
        with lake.fs.open_input_stream(lake.path(rel)) as f:
            return sha256_stream(f)
    except OSError as exc:
        from vieweratlas.lake.store import is_not_found

        if is_not_found(exc):
            return None
        raise


def discard(lake: Lake, txid: str) -> None:
    """Remove the staging folder of ``txid`` (its files were never committed, or are)."""
    if lake.is_local:
        shutil.rmtree(lake.path(STAGING_DIR, txid), ignore_errors=True)
        return
    for rel in lake.list_all(posixpath.join(STAGING_DIR, txid)):
        with contextlib.suppress(FileNotFoundError):
            lake.delete(rel)


def pending(lake: Lake) -> list[Commit]:
    """Commit records not yet fully applied (a writer died, or is applying right now)."""
    out = []
    for rel in lake.list_all(TXN_DIR):
        if not rel.endswith(".json"):
            continue
        try:
            out.append(Commit.from_json(lake.read_bytes(rel)))
        except FileNotFoundError:
            continue  # applied meanwhile
        except (ValueError, KeyError, TypeError) as exc:
            raise LakeError(f"{rel}: unreadable commit record ({exc})") from None
    return out


def recover(lake: Lake, *, now: datetime | None = None) -> int:
    """Roll pending commits forward and sweep staging left by dead writers; returns work done."""
    done = 0
    records = pending(lake)
    for record in records:
        log.info("completing commit %s left pending", record.txid)
        apply(lake, record)
        done += 1
    live = {r.txid for r in records}
    for txid in staging_ids(lake):
        if txid in live or staging_in_use(lake, txid, now or datetime.now(UTC)):
            continue
        log.info("removing staging %s of a writer that died before committing", txid)
        discard(lake, txid)
        done += 1
    return done


def staging_ids(lake: Lake) -> list[str]:
    base = lake.path(STAGING_DIR)
    if lake.is_local:
        folder = Path(base)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    ids = set()
    for rel in lake.list_all(STAGING_DIR):
        parts = rel.split("/")
        if len(parts) > 2:
            ids.add(parts[1])
    return sorted(ids)


def staging_in_use(lake: Lake, txid: str, now: datetime | None = None) -> bool:
    """True while the writer of a staging folder may still be at work."""
    now = now or datetime.now(UTC)
    if lake.is_local:
        folder = Path(lake.path(STAGING_DIR, txid))
        if not (folder / LOCK_NAME).exists():  # just created, its lock not taken yet?
            with contextlib.suppress(FileNotFoundError):
                age = now.timestamp() - folder.stat().st_mtime
                return age < STALE_UNLOCKED.total_seconds()
            return False
        return owner_alive(folder / LOCK_NAME)
    infos: Any = lake.fs.get_file_info(
        pafs.FileSelector(lake.path(STAGING_DIR, txid), recursive=True, allow_not_found=True)
    )
    newest = max((i.mtime for i in infos if i.mtime is not None), default=None)
    if newest is None:
        return False
    return bool(now - newest.astimezone(UTC) < STALE_REMOTE_STAGING)
