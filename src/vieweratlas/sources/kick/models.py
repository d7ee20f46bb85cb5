"""Kick's wire formats, validated at the boundary: webhook bodies, Pusher frames, API pages.

Everything here is pure. A body or frame we cannot use raises
:class:`~vieweratlas.errors.KickError` (one line, the value cut short), never anything else,
so the transports can count it and go on. Channel and user names pass the Kick login rule of
:mod:`vieweratlas.platforms`; the stored name is the *slug* (the lower-case URL form), which
both the webhook (``channel_slug``) and Pusher (``slug``) carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vieweratlas.errors import KickError
from vieweratlas.platforms import KICK

MAX_FRAME = 1 << 20  # no chat frame comes near 1 MiB; bounds a hostile peer


def cut(value: object, n: int = 60) -> str:
    """A value for a one-line message: repr, at most ``n`` characters."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class ChatMessage:
    """One chat message, whichever transport brought it."""

    channel: str  # broadcaster slug
    user: str  # sender slug
    user_id: str | None
    sent_at: datetime | None
    message_id: str | None = None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _WebhookUser(_Lenient):
    user_id: int | None = None
    username: str | None = None
    channel_slug: str | None = None
    is_anonymous: bool | None = None


class _WebhookChat(_Lenient):
    message_id: str | None = None
    broadcaster: _WebhookUser
    sender: _WebhookUser
    created_at: str | None = None


def _json(data: bytes | str, what: str) -> Any:
    if len(data) > MAX_FRAME:
        raise KickError(f"{what}: larger than {MAX_FRAME:,} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise KickError(f"{what}: not JSON ({cut(data[:40])})") from None


def _model(model: type[_Lenient], data: object, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise KickError(f"{what}: unexpected shape at {where}: {err['msg']}") from None
    except RecursionError:
        raise KickError(f"{what}: nested too deeply") from None


def parse_time(value: object) -> datetime | None:
    """RFC 3339 / ISO time → aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _slug(name: object, what: str) -> str:
    slug = KICK.normalize(name) if isinstance(name, str) else None
    if slug is None:
        raise KickError(f"{what}: not a Kick name: {cut(name)}")
    return slug


def parse_webhook_chat(body: bytes) -> ChatMessage:
    """A ``chat.message.sent`` webhook body (version 1) → :class:`ChatMessage`."""
    what = "chat.message.sent body"
    chat = _model(_WebhookChat, _json(body, what), what)
    channel = _slug(chat.broadcaster.channel_slug, f"{what}: broadcaster.channel_slug")
    sender = chat.sender
    user = _slug(sender.channel_slug or sender.username, f"{what}: sender")
    return ChatMessage(
        channel=channel,
        user=user,
        user_id=str(sender.user_id) if sender.user_id is not None else None,
        sent_at=parse_time(chat.created_at),
        message_id=chat.message_id if isinstance(chat.message_id, str) else None,
    )


# --------------------------------------------------------------------------- Pusher


@dataclass(frozen=True)
class PusherFrame:
    """One Pusher protocol 7 frame: ``event``, optional ``channel`` and ``data``.

    ``data`` is kept as sent: Pusher encodes event payloads as a JSON *string* inside the
    frame (``App\\Events\\ChatMessageEvent`` included); control frames may send an object.
    """

    event: str
    channel: str | None
    data: object


def parse_pusher_frame(text: str | bytes) -> PusherFrame:
    frame = _json(text, "Pusher frame")
    if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
        raise KickError(f"Pusher frame: no event name ({cut(frame)})")
    channel = frame.get("channel")
    return PusherFrame(
        event=frame["event"],
        channel=channel if isinstance(channel, str) else None,
        data=frame.get("data"),
    )


def frame_data(frame: PusherFrame) -> dict[str, Any]:
    """The frame's payload as an object (decoding the JSON string Pusher sends)."""
    data = frame.data
    if isinstance(data, str):
        data = _json(data, f"Pusher {frame.event} data")
    if not isinstance(data, dict):
        raise KickError(f"Pusher {frame.event}: data is not an object ({cut(data)})")
    return data


class _PusherSender(_Lenient):
    id: int | None = None
    username: str | None = None
    slug: str | None = None


class _PusherChat(_Lenient):
    id: str | None = None
    chatroom_id: int | None = None
    created_at: str | None = None
    sender: _PusherSender


def parse_pusher_chat(frame: PusherFrame, channel: str) -> ChatMessage:
    """An ``App\\Events\\ChatMessageEvent`` frame of ``channel``'s chatroom → message."""
    what = "Pusher ChatMessageEvent"
    chat = _model(_PusherChat, frame_data(frame), what)
    user = _slug(chat.sender.slug or chat.sender.username, f"{what}: sender")
    return ChatMessage(
        channel=channel,
        user=user,
        user_id=str(chat.sender.id) if chat.sender.id is not None else None,
        sent_at=parse_time(chat.created_at),
        message_id=chat.id,
    )


# --------------------------------------------------------------------------- API pages


class Token(_Lenient):
    access_token: str
    expires_in: int | None = None


class PublicKeyData(_Lenient):
    public_key: str


class PublicKeyPage(_Lenient):
    data: PublicKeyData


class ChannelInfo(_Lenient):
    broadcaster_user_id: int
    slug: str


class ChannelsPage(_Lenient):
    data: list[ChannelInfo]


class Category(_Lenient):
    name: str | None = None


class Livestream(_Lenient):
    broadcaster_user_id: int
    slug: str
    channel_id: int | None = None
    viewer_count: int | None = None
    language: str | None = None
    stream_title: str | None = None
    category: Category | None = None


class LivestreamsPage(_Lenient):
    data: list[Livestream]


class Subscription(_Lenient):
    id: str
    broadcaster_user_id: int
    event: str
    version: int | None = None
    method: str | None = None


class SubscriptionsPage(_Lenient):
    data: list[Subscription]


class Chatroom(_Lenient):
    id: int


class WebChannel(_Lenient):
    """``kick.com/api/v2/channels/<slug>`` (the web client's API): the chatroom id."""

    slug: str
    user_id: int | None = None
    chatroom: Chatroom


def model(cls: type[_Lenient], data: object, what: str) -> Any:
    """Validate ``data`` into ``cls`` (a :class:`KickError` on mismatch)."""
    return _model(cls, data, what)
