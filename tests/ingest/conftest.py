"""Fixtures for the importer tests: lake snapshots and chat-file writers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

Snapshot = Callable[[], dict[str, bytes]]


@pytest.fixture
def lake_state(lake_dir: Path) -> Snapshot:
    """A function returning every file under the lake (hidden ones too) with its bytes."""

    def snap() -> dict[str, bytes]:
        if not lake_dir.exists():
            return {}
        return {
            p.relative_to(lake_dir).as_posix(): p.read_bytes()
            for p in sorted(lake_dir.rglob("*"))
            if p.is_file()
        }

    return snap


def td_document(
    comments: Sequence[tuple[float, str, str | None]],
    *,
    channel: str = "somestreamer",
    created_at: str | None = "2024-03-01T12:00:00Z",
    version: str = "1.4",
) -> dict[str, Any]:
    """A TwitchDownloader chat JSON document in the given format version."""
    items = []
    for i, (offset, name, uid) in enumerate(comments):
        item: dict[str, Any] = {
            "_id": f"c{i}",
            "created_at": "2024-03-01T12:00:00Z",
            "channel_id": "1001",
            "content_type": "video",
            "content_id": "777",
            "content_offset_seconds": offset,
            "commenter": {"display_name": name.title(), "_id": uid, "name": name, "logo": ""},
            "message": {
                "body": 'hi [] {} " \\',
                "bits_spent": 0,
                "fragments": [{"text": "hi", "emoticon": None}],
                "user_badges": [{"_id": "sub", "version": "12"}],
                "user_color": "#FF0000",
                "emoticons": [],
            },
        }
        items.append(item)
    if version == "1.4":
        return {
            "FileInfo": {
                "Version": {"Major": 1, "Minor": 4, "Patch": 0},
                "CreatedAt": "2024-03-02T00:00:00Z",
                "UpdatedAt": "0001-01-01T00:00:00",
            },
            "streamer": {"name": channel, "id": 1001},
            "video": {
                "title": "a stream",
                "description": None,
                "id": "777",
                "created_at": created_at,
                "start": 0,
                "end": 3600,
                "length": 3600,
                "viewCount": 10,
                "game": "Chess",
                "chapters": [],
            },
            "comments": items,
            "embeddedData": None,
        }
    # Older files: no FileInfo, comments before a video object without created_at.
    video: dict[str, Any] = {"start": 0, "end": 3600}
    if created_at is not None:
        video["created_at"] = created_at
    return {"streamer": {"name": channel, "id": "1001"}, "comments": items, "video": video}


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Write a JSON document to ``tmp_path / name`` (gzipped when the name ends in .gz)."""

    def write(name: str, doc: Any) -> Path:
        path = tmp_path / name
        data = json.dumps(doc).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return write


@pytest.fixture
def td() -> Callable[..., dict[str, Any]]:
    """:func:`td_document`, as a fixture (conftest modules are not imported by tests)."""
    return td_document
