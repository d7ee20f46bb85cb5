"""Sources: where presence comes from. One package per platform beside a shared ``common``.

``common`` holds what every platform needs (presence windows, channel lists, HTTP transport
with retry and rate limits, bucketing of chat into windows); ``twitch`` (and later ``kick``,
``youtube``) hold the platform adapters. Sources write to the lake; they never import the
analysis.
"""
