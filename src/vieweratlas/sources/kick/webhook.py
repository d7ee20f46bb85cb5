"""The Kick webhook receiver: verify every delivery before anything is stored.

Kick signs each delivery: ``Kick-Event-Signature`` is base64 of an RSA PKCS#1 v1.5 /
SHA-256 signature over ``"{Kick-Event-Message-Id}.{Kick-Event-Message-Timestamp}.{raw
body}"``, checked with Kick's public key (``GET /public/v1/public-key``). A delivery is
accepted only if

1. the signature verifies (else **401**),
2. its timestamp is within ``kick.max_age`` of now (else **400**: a stale or future
   delivery could be a captured one played back), and
3. its message id has not been accepted before (else **400**, nothing stored).

Accepted ids are remembered per presence window in a bounded set; when a window is written
to the lake its ids are written next to it (``state/kick/deliveries/…``), and a restarted
receiver reads back the ids of the windows a fresh delivery could still belong to, so a
redelivery after a restart is refused rather than counted twice. Ids of the window that was
open when a receiver died are lost with that window: a redelivery of those is accepted and
restores what was lost.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vieweratlas.errors import KickError, LakeError
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import KICK_DELIVERIES
from vieweratlas.sources.common.sink import ChatStats
from vieweratlas.sources.kick.models import MAX_FRAME, ChatMessage, cut, parse_time

log = logging.getLogger(__name__)

HEADER_ID = "kick-event-message-id"
HEADER_TS = "kick-event-message-timestamp"
HEADER_SIG = "kick-event-signature"
HEADER_TYPE = "kick-event-type"
CHAT_EVENT = "chat.message.sent"
WEBHOOK_PATH = "/kick/webhook"
STATE_DIR = KICK_DELIVERIES


class Rejected(KickError):
    """A delivery refused before anything was stored; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Kick's public key from PEM text; a :class:`KickError` if it is not an RSA key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KickError("kick public key: not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KickError("kick public key: not an RSA key")
    return key


def signed_payload(message_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes Kick signs for one delivery."""
    return f"{message_id}.{timestamp}.".encode() + body


@dataclass(frozen=True)
class Delivery:
    """A delivery that passed verification."""

    message_id: str
    timestamp: datetime
    event: str
    body: bytes


class Verifier:
    """Checks signature and age of deliveries (pure but for the ``now`` clock)."""

    def __init__(
        self,
        key: rsa.RSAPublicKey,
        *,
        max_age: timedelta,
        now: Callable[[], datetime],
    ) -> None:
        self.key = key
        self.max_age = max_age
        self.now = now

    def verify(self, headers: dict[str, str], body: bytes) -> Delivery:
        message_id = headers.get(HEADER_ID, "")
        stamp = headers.get(HEADER_TS, "")
        signature = headers.get(HEADER_SIG, "")
        if not message_id or not stamp or not signature:
            raise Rejected(401, "missing Kick-Event-Message-Id, -Timestamp or -Signature")
        if len(message_id) > 128 or len(stamp) > 64 or len(signature) > 2048:
            raise Rejected(400, "oversized Kick-Event header")
        try:
            raw_sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(401, "Kick-Event-Signature is not base64") from None
        try:
            self.key.verify(
                raw_sig,
                signed_payload(message_id, stamp, body),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise Rejected(401, "signature does not verify") from None
        when = parse_time(stamp)
        if when is None:
            raise Rejected(400, f"unreadable Kick-Event-Message-Timestamp {cut(stamp)}")
        if abs(self.now() - when) > self.max_age:
            raise Rejected(400, f"stale delivery (timestamp {stamp})")
        return Delivery(message_id, when, headers.get(HEADER_TYPE, ""), body)


class SeenIds:
    """Accepted delivery ids, bounded, grouped by presence window and persisted with it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, datetime] = OrderedDict()
        self._unsaved: dict[datetime, list[str]] = {}

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str, window: datetime, *, saved: bool = False) -> None:
        self._ids[message_id] = window
        if not saved:
            self._unsaved.setdefault(window, []).append(message_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def save(self, lake: Lake, window: datetime) -> None:
        """Add the ids of ``window`` to its file in the lake (atomic); called from the
        writer thread right after the window's presence is written."""
        ids = self._unsaved.pop(window, None)
        if not ids:
            return
        rel = f"{STATE_DIR}/{window.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        merged = list(ids)
        if lake.exists(rel):
            with contextlib.suppress(LakeError, OSError, ValueError):
                old = json.loads(lake.read_bytes(rel))
                merged = [i for i in old if isinstance(i, str)] + merged
        lake.write_bytes(rel, json.dumps(sorted(set(merged))).encode())

    def load(self, lake: Lake, since: datetime) -> int:
        """Read back the ids of windows starting at or after ``since``; how many."""
        try:
            files = lake.list_files(STATE_DIR, suffix=".json")
        except (LakeError, OSError):
            return 0
        count = 0
        for rel in files:
            name = rel.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                start = datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            if start < since:
                continue
            try:
                ids = json.loads(lake.read_bytes(rel))
            except (LakeError, OSError, ValueError):
                log.warning("%s: unreadable delivery ids, skipped", rel)
                continue
            for message_id in ids if isinstance(ids, list) else []:
                if isinstance(message_id, str):
                    self.add(message_id, start, saved=True)
                    count += 1
        return count


def create_receiver(
    verifier: Verifier,
    seen: SeenIds,
    accept: Callable[[Delivery], ChatMessage | None],
    stats: ChatStats,
) -> Starlette:
    """The ASGI app: ``POST /kick/webhook`` (verified deliveries), ``GET /healthz``.

    ``accept`` turns a verified, new delivery into presence and remembers its id in
    ``seen`` (it raises :class:`KickError` for a body it cannot use → 400); it returns the
    message, or None for other events. Refusals are counted in ``stats.rejected``.
    """

    async def webhook(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FRAME:
                return JSONResponse({"error": "body too large"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            delivery = verifier.verify(headers, bytes(body))
            if delivery.message_id in seen:
                raise Rejected(400, f"replayed delivery {cut(delivery.message_id)}")
            accept(delivery)
        except Rejected as exc:
            stats.rejected += 1
            log.warning("kick webhook refused (%d): %s", exc.status, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except KickError as exc:
            log.warning("kick webhook: unusable delivery: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "seen": len(seen)})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
