"""Data file names and what they tell readers without opening a file.

A data file is named ``part-<first>-<last>-<sha256>.parquet``: ``first``/``last`` are the
smallest and largest ``ts`` in it (``HHMMSSffffff`` within the partition's UTC day) and
``sha256`` is the digest of the file's bytes. The digest makes two files with different
content unable to share a name; the time range lets readers see, from a listing alone,
which files of a partition can hold the same key: two files whose time ranges do not
intersect cannot (every key of a time-keyed table contains ``ts``). Files that may share
keys form an *overlap cluster*, de-duplicated at read time; every other file is read as is.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

_NAME = re.compile(r"^part-(\d{12})-(\d{12})-([0-9a-f]{64})(?:-[0-9a-f]{8})?\.parquet$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One visible data file of a table: its lake path, partition folder and time range."""

    rel: str
    partition: str  # lake-relative folder (``…/platform=…/date=…``)
    first: str | None  # ``HHMMSSffffff``; None for files not named by this scheme
    last: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel)


def file_name(first: datetime, last: datetime, digest: str) -> str:
    """The name of a data file whose rows span ``first..last`` and whose bytes hash to it."""
    return f"part-{first:%H%M%S%f}-{last:%H%M%S%f}-{digest}.parquet"


def parse(rel: str) -> DataFile:
    """What a data file's path says about it (legacy names carry no time range)."""
    m = _NAME.match(posixpath.basename(rel))
    part = posixpath.dirname(rel)
    if m is None:
        return DataFile(rel, part, None, None, None)
    return DataFile(rel, part, m.group(1), m.group(2), m.group(3))


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def clusters(files: Iterable[DataFile], *, time_keyed: bool) -> list[list[DataFile]]:
    """Files grouped so that two files in different groups never share a key.

    Per partition, files are swept in time order and a file joins the current group when
    its range starts before the group's range ends. Without a time-keyed key (or with a
    legacy name) every file of the partition may share keys with every other: one group.
    """
    by_part: dict[str, list[DataFile]] = {}
    for f in files:
        by_part.setdefault(f.partition, []).append(f)
    out: list[list[DataFile]] = []
    for part in sorted(by_part):
        members = by_part[part]
        if not time_keyed or any(f.first is None for f in members):
            out.append(sorted(members, key=lambda f: f.rel))
            continue
        members.sort(key=lambda f: (f.first or "", f.last or "", f.rel))
        group: list[DataFile] = []
        end = ""
        for f in members:
            assert f.first is not None and f.last is not None
            if group and f.first > end:
                out.append(group)
                group = []
            group.append(f)
            end = max(end, f.last) if len(group) > 1 else f.last
        if group:
            out.append(group)
    return out
