"""Kick adapters: the webhook receiver (``webhook``), the Pusher websocket (``pusher``), the
public API (``api``), wire formats (``models``) and the collector joining them
(``collector``). Everything read from Kick is validated here before it reaches the lake.
"""

from __future__ import annotations
