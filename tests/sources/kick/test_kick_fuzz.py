"""Hostile bytes into the Kick parsers: only KickError ever comes out."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from vieweratlas.errors import KickError
from vieweratlas.sources.kick.models import (
    parse_pusher_chat,
    parse_pusher_frame,
    parse_webhook_chat,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=30,
)  # fmt: skip

user = st.fixed_dictionaries(
    {},
    optional={"user_id": json_values | st.integers(), "username": json_values | st.text(),
              "channel_slug": json_values | st.from_regex(r"[a-z0-9_-]{1,25}", fullmatch=True)},
)  # fmt: skip
webhook_body = st.fixed_dictionaries(
    {},
    optional={"message_id": json_values, "broadcaster": user | json_values,
              "sender": user | json_values, "created_at": json_values | st.text()},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), webhook_body.map(lambda b: json.dumps(b).encode())))
def test_webhook_bodies(body: bytes) -> None:
    try:
        message = parse_webhook_chat(body)
    except KickError:
        return
    assert message.channel and message.user


frame = st.fixed_dictionaries(
    {},
    optional={"event": st.sampled_from(["App\\Events\\ChatMessageEvent", "pusher:ping"])
              | json_values, "channel": json_values,
              "data": json_values | json_values.map(json.dumps)
              | st.fixed_dictionaries({}, optional={"sender": json_values, "id": json_values,
                                                    "created_at": json_values}).map(json.dumps)},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), frame.map(json.dumps)))
def test_pusher_frames(text: str) -> None:
    try:
        parsed = parse_pusher_frame(text)
        message = parse_pusher_chat(parsed, "alpha")
    except KickError:
        return
    assert message.user
