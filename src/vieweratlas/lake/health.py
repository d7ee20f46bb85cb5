"""Is the lake reachable? One cheap metadata call, used by the container healthcheck."""

from __future__ import annotations

import logging
import posixpath

import pyarrow.fs as pafs

from vieweratlas.errors import LakeError
from vieweratlas.lake.store import Lake

log = logging.getLogger(__name__)


def check_lake(lake: Lake) -> str:
    """Raise :class:`LakeError` unless the lake can be used; return a one-line status.

    On S3 the bucket must exist and answer (one HEAD request; no listing of the lake). A
    local lake must be an existing folder or one that can be created (its nearest existing
    parent is a folder).
    """
    if lake.is_local:
        path = lake.root
        while True:
            info = lake.fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                return f"ok: local lake {lake.root}"
            if info.type != pafs.FileType.NotFound:
                raise LakeError(f"lake {lake.url}: {path} is not a folder")
            parent = posixpath.dirname(path)
            if parent == path:
                raise LakeError(f"lake {lake.url}: no existing parent folder")
            path = parent
    bucket = lake.root.split("/", 1)[0]
    try:
        info = lake.fs.get_file_info(bucket)
    except OSError as exc:
        raise LakeError(f"lake {lake.url}: bucket {bucket!r} does not answer ({exc})") from None
    if info.type != pafs.FileType.Directory:
        raise LakeError(f"lake {lake.url}: bucket {bucket!r} not found")
    return f"ok: lake {lake.url}"
