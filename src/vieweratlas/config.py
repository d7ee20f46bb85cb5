"""Settings: one typed, immutable object resolved once and passed down.

Precedence, lowest to highest: built-in defaults < preset < YAML file (``--config``) <
environment (``VIEWERATLAS_…``, nested with ``__``; plus the original product's
``TWITCH_CLIENT_ID`` / ``TWITCH_CLIENT_SECRET`` / ``TWITCH_OAUTH_TOKEN``) < command-line flags.
Unknown keys and bad values are :class:`~vieweratlas.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vieweratlas.errors import ConfigError

ENV_PREFIX = "VIEWERATLAS_"
LEGACY_ENV = {
    "TWITCH_CLIENT_ID": ("twitch", "client_id"),
    "TWITCH_CLIENT_SECRET": ("twitch", "client_secret"),
    "TWITCH_OAUTH_TOKEN": ("twitch", "oauth_token"),
}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``7d`` (or a bare number of seconds) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 7d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 7d, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def _from_epoch(seconds: float, value: object) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"epoch seconds out of range: {value!r}") from None


def parse_timestamp(value: object) -> datetime:
    """ISO-8601 (date or datetime; naive means UTC) or epoch seconds → aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        dt = _from_epoch(float(value), value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            epoch = float(text)
        except ValueError:
            epoch = None
        if epoch is not None:
            dt = _from_epoch(epoch, value)
        else:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"expected an ISO-8601 time or epoch seconds, got {value!r}"
                ) from None
    else:
        raise ValueError(f"expected an ISO-8601 time or epoch seconds, got {value!r}")
    try:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time out of range: {value!r}") from None


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


# Option types shared with the code that uses them (one Literal each).
PlatformName = Literal["twitch", "kick", "youtube"]
Engine = Literal["local", "spark"]
Weight = Literal["excess", "cosine", "jaccard", "shared"]
Algorithm = Literal["leiden", "louvain"]
EdgeSelection = Literal["neighbours", "budget"]
ViewerWeight = Literal["presence", "loyalty"]
YouTubeMethod = Literal["innertube", "api"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class TwitchSettings(_Section):
    client_id: str | None = Field(None, description="Helix application client id.")
    client_secret: SecretStr | None = Field(
        None, description="Helix application secret (never logged)."
    )
    oauth_token: SecretStr | None = Field(
        None,
        description="User OAuth token for IRC login and Get Chatters (never logged); "
        "anonymous read-only IRC when unset.",
    )
    irc_url: str = Field(
        "ircs://irc.chat.twitch.tv:6697", description="Twitch IRC endpoint (irc:// or ircs://)."
    )
    auth_url: str = Field("https://id.twitch.tv/oauth2/token", description="OAuth token endpoint.")
    helix_url: str = Field("https://api.twitch.tv/helix", description="Helix API base URL.")
    gql_url: str = Field("https://gql.twitch.tv/gql", description="GraphQL endpoint (VOD chat).")
    gql_client_id: str = Field(
        "kd1unb4b3q4t58fwlpcbzcbnm76a8fp",
        description="Client-Id sent to the GraphQL endpoint (a public web client id).",
    )
    login: str | None = Field(
        None, description="IRC nick (account login) used with oauth_token; unused anonymously."
    )
    request_deadline: PositiveDuration = Field(
        timedelta(seconds=60),
        description="Longest one HTTP request to Twitch (token, Helix, GraphQL) may take, "
        "whole body included; slower counts as a timeout and is retried a bounded number "
        "of times.",
    )


class KickSettings(_Section):
    client_id: str | None = Field(
        None, description="Kick app client id (OAuth client credentials)."
    )
    client_secret: SecretStr | None = Field(
        None, description="Kick app client secret (never logged)."
    )
    api_url: str = Field("https://api.kick.com", description="Kick public API base URL.")
    auth_url: str = Field(
        "https://id.kick.com/oauth/token", description="Kick OAuth token endpoint."
    )
    pusher_url: str = Field(
        "wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679?protocol=7&client=js"
        "&version=8.4.0&flash=false",
        description="Kick's Pusher websocket (the web client's public app key).",
    )
    web_url: str = Field(
        "https://kick.com",
        description="Kick website; its channel API gives the chatroom id Pusher needs.",
    )
    transport: Literal["webhook", "pusher"] = Field(
        "webhook",
        description="webhook: official event subscriptions delivered to a public URL; "
        "pusher: the web client's websocket (no public URL needed).",
    )
    listen_host: str = Field("127.0.0.1", description="Address the webhook receiver binds.")
    listen_port: int = Field(8080, ge=0, le=65535, description="Port of the webhook receiver.")
    max_age: Duration = Field(
        timedelta(minutes=5),
        description="Webhook deliveries with a timestamp further than this from now are "
        "refused (replay protection).",
    )
    public_key: str | None = Field(
        None,
        description="Kick's webhook public key (PEM); fetched from the API when unset.",
    )
    seen_ids: int = Field(
        200_000, ge=1000, description="Delivery ids remembered to refuse replays."
    )


class YouTubeSettings(_Section):
    base_url: str = Field("https://www.youtube.com", description="YouTube web base URL.")
    min_poll: Duration = Field(
        timedelta(seconds=1), description="Shortest wait between two live-chat polls."
    )
    max_poll: Duration = Field(
        timedelta(seconds=8),
        description="Longest wait between polls (the server's timeoutMs is capped here so "
        "busy chats lose nothing).",
    )
    bucket_len: Duration = Field(
        timedelta(seconds=300), description="Presence bucket length for chat replays."
    )
    method: YouTubeMethod = Field(
        "innertube",
        description="innertube: the web client's live-chat continuations (no key, no quota); "
        "api: the official YouTube Data API v3 (needs youtube.api_key; costs quota).",
    )
    api_key: SecretStr | None = Field(
        None, description="YouTube Data API v3 key for method api (secret, never logged)."
    )
    api_url: str = Field(
        "https://www.googleapis.com", description="YouTube Data API base URL (method api)."
    )
    api_quota: int = Field(
        10_000,
        ge=0,
        description="Data API units this collector may spend per day (Google's default "
        "daily quota is 10,000); the collector stops cleanly before exceeding it.",
    )


class CollectSettings(_Section):
    interval: PositiveDuration = Field(
        timedelta(minutes=5), description="Length of one presence snapshot window."
    )
    channels_file: Path | None = Field(
        None, description="File with one channel login per line (the original channels.txt)."
    )
    top: int = Field(100, ge=1, description="Channels to track when taken from the Helix top.")
    refresh: PositiveDuration = Field(
        timedelta(minutes=10), description="How often the channel list is refreshed."
    )
    channels_per_connection: int = Field(
        100, ge=1, le=1000, description="Channels joined on one IRC connection at most."
    )
    joins_per_window: int = Field(
        20, ge=1, description="JOINs allowed per connection in one join window (Twitch: 20)."
    )
    join_window: PositiveDuration = Field(
        timedelta(seconds=10), description="The join rate-limit window (Twitch: 10 s)."
    )
    silence_timeout: PositiveDuration = Field(
        timedelta(minutes=5),
        description="No traffic for this long → PING; no answer → reconnect.",
    )
    reconnect_min: PositiveDuration = Field(
        timedelta(seconds=1), description="First reconnect delay (doubles, with jitter)."
    )
    reconnect_max: PositiveDuration = Field(
        timedelta(minutes=2), description="Longest delay between reconnect attempts."
    )

    @model_validator(mode="after")
    def _reconnect_order(self) -> CollectSettings:
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min must not be longer than reconnect_max")
        return self


class BotSettings(_Section):
    blocklist: bool = Field(True, description="Remove the shipped list of known bot accounts.")
    extra: tuple[str, ...] = Field((), description="More account names to treat as bots.")
    max_channel_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="A viewer seen in more than this share of all channels is a bot …",
    )
    min_channels: int = Field(
        25, ge=2, description="… but only when that is also at least this many channels."
    )
    max_concurrent: int = Field(
        25, ge=2, description="A viewer seen in more channels than this in one window is a bot."
    )


class SparkSettings(_Section):
    master: str = Field(
        "local[*]",
        description="Spark master URL: local[*] (this machine's cores) or a cluster's "
        "(spark://…, yarn, k8s://…); empty: as spark-submit set it (EMR Serverless).",
    )
    driver_memory: str = Field("2g", description="Memory of the Spark driver (JVM syntax).")
    shuffle_partitions: int = Field(
        8, ge=1, description="Partitions of each shuffle (raise on a cluster: ~2–3 per core)."
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Any further Spark options, e.g. spark.executor.memory."
    )


class AnalysisSettings(_Section):
    since: Timestamp | None = Field(None, description="First snapshot time included (UTC).")
    until: Timestamp | None = Field(None, description="Snapshots before this time (UTC).")
    platforms: tuple[PlatformName, ...] = Field(
        (), description="Platforms analysed together (empty: every platform in the window)."
    )
    engine: Engine = Field(
        "local",
        description="Graph engine: local (NumPy/SciPy in this process) or spark (PySpark, "
        "for data past one machine).",
    )
    max_channels: int = Field(
        5000,
        ge=2,
        description="The maps draw at most this many channels (the most-watched first, "
        "every community's biggest included); the analysis and the tables cover all.",
    )
    min_channel_viewers: int = Field(
        10, ge=1, description="Channels with fewer unique viewers (after bots) are left out."
    )
    overlap_threshold: int = Field(
        1, ge=1, description="An edge needs at least this many shared unique viewers."
    )
    edge_selection: EdgeSelection = Field(
        "neighbours",
        description="How edges are chosen: neighbours = every channel keeps its "
        "`neighbours` strongest ties among those beyond chance (small channels keep theirs); "
        "budget = one global threshold raised until `max_edges_per_channel` remain on "
        "average (small channels lose theirs first).",
    )
    neighbours: int = Field(
        30, ge=1, description="neighbours selection: ties each channel keeps (at most)."
    )
    neighbour_significance: float = Field(
        0.1,
        gt=0,
        le=1,
        description="neighbours selection: a tie must be unlikely by chance (Poisson tail "
        "probability of the shared count below this, given both audiences).",
    )
    max_edges_per_channel: int = Field(
        25,
        ge=0,
        description="budget selection: the threshold is raised until at most this many "
        "edges per channel remain on average (0: no budget, the threshold is exact).",
    )
    viewer_weight: ViewerWeight = Field(
        "presence",
        description="How a viewer's tie to a channel counts in edge weights and memberships: "
        "presence = once, however often seen; loyalty = min(snapshots seen, loyalty_cap) / "
        "loyalty_cap, so drive-by visits count less than regulars.",
    )
    loyalty_cap: int = Field(
        3, ge=1, description="loyalty weighting: snapshots after which a viewer counts fully."
    )
    significance: float = Field(
        0.0,
        ge=0,
        le=1,
        description="If above 0, an edge's shared count must also be unlikely by chance "
        "(Poisson tail probability below this, given both channels' sizes). Sharpens "
        "heavy-tailed data but starves sparse data, so off by default.",
    )
    weight: Weight = Field(
        "excess",
        description="Edge weight used for community detection: excess = (shared - expected "
        "by chance)/sqrt(na*nb); cosine = shared/sqrt(na*nb); jaccard; or the raw count "
        "(makes big channels hubs).",
    )
    algorithm: Algorithm = Field("leiden", description="Community detection algorithm.")
    resolution: float = Field(1.0, gt=0, description="Modularity resolution (higher → smaller).")
    seed: int = Field(
        42, ge=0, le=2**31 - 1, description="Random seed (0 or more): same seed, same communities."
    )
    min_community_size: int = Field(
        3,
        ge=1,
        description="Smaller communities are merged into their strongest neighbour "
        "(or marked unclustered, -1).",
    )
    attach_unclustered: bool = Field(
        True,
        description="Place channels without edges in the community their viewers favour "
        "beyond chance (flagged `attached` in nodes); off: they are listed as unplaced.",
    )
    refine_by_viewers: bool = Field(
        True,
        description="After clustering, move a channel to the community its viewers' "
        "attention favours most beyond chance, when that is not its own (edges are a "
        "channel's strongest few ties; its viewers are all of them).",
    )
    consensus_runs: int = Field(
        10,
        ge=1,
        description="Draws behind `confidence`/`stability`: the clustering as is, and "
        "this minus one draws of noisy edge weights in which every channel takes its best "
        "local move (1: no confidence measure, everything 1.0).",
    )
    sub_resolution: float = Field(
        0.7,
        gt=0,
        description="Modularity resolution for sub-communities, found inside each community.",
    )
    sub_min_modularity: float = Field(
        0.1,
        ge=0,
        description="A community is split into sub-communities only if the split reaches "
        "this modularity within it (else it is its own single sub-community).",
    )
    bridge_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="A channel is a member of every community that gets at least this share "
        "of its viewers' attention beyond chance (counted over the communities it is "
        "measurably tied to: memberships); two or more: a bridge.",
    )
    bridge_min_z: float = Field(
        1.2,
        ge=0,
        description="...and whose excess attention is at least this many times its noise "
        "(sqrt of the summed squared attention of the channel's viewers).",
    )
    layout_from_previous: bool = Field(
        True,
        description="Start the map's layout from the newest run's positions (channels in "
        "both keep their place, so maps of adjacent windows compare); off: a fresh layout "
        "from the seed alone.",
    )
    similar_top: int = Field(
        20,
        ge=1,
        description="Similar channels kept per channel in a run's similar.parquet (and shown "
        "by `similar` without --top).",
    )
    lake_copy: Literal["tables", "map", "all"] = Field(
        "map",
        description="What a run copies into the lake's analysis/<run-id>/ (--out gets "
        "everything): map = tables, summary and atlas.html (what the dashboard shows); "
        "tables = no pictures; all = also atlas.png, graph.gexf and graph.json.",
    )
    bots: BotSettings = Field(default_factory=BotSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)


class VodSettings(_Section):
    max_age_days: int = Field(30, ge=1, description="Only VODs newer than this.")
    min_views: int = Field(100, ge=0, description="Only VODs with at least this many views.")
    bucket_len: PositiveDuration = Field(
        timedelta(seconds=300), description="Presence bucket length from the VOD start."
    )


class RetentionSettings(_Section):
    raw: PositiveDuration = Field(
        timedelta(days=30), description="How long raw snapshots are kept."
    )
    vod_raw: PositiveDuration = Field(
        timedelta(days=7), description="How long raw VOD chat is kept."
    )
    curated: PositiveDuration | None = Field(
        None,
        description="How long curated presence/channels are kept; null keeps them forever "
        "(on AWS they move to Glacier after 90 days instead).",
    )
    keep_runs: int | None = Field(
        None,
        ge=1,
        description="Keep only the newest this many runs under analysis/ (null: no limit).",
    )
    runs: PositiveDuration | None = Field(
        None,
        description="Delete runs older than this (null: kept); the newest run is always kept.",
    )
    tracking: PositiveDuration | None = Field(
        timedelta(days=30),
        description="Delete `track`'s per-window caches (tracking/windows/) that the latest "
        "tracking output does not use, once made longer ago than this (null: kept); they "
        "are recomputed when needed.",
    )


class TrackSettings(_Section):
    every: Duration = Field(
        timedelta(days=1), description="Length of one tracking window (`track --every`)."
    )
    threshold: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Jaccard similarity of member sets at which a community continues a "
        "lineage of the window before (θ of Greene, Doyle & Cunningham 2010).",
    )
    containment: float = Field(
        0.5,
        gt=0,
        description="Also related when this share of the smaller set lies in the other "
        "(overlap coefficient), so a small piece breaking off is a split, not a birth "
        "(above 1: Jaccard only).",
    )
    min_shared: int = Field(
        3, ge=1, description="… and only when they have at least this many channels in common."
    )
    change: float = Field(
        0.25,
        gt=0,
        description="A continuing lineage whose channel count changed by this share or more "
        "grows or shrinks (an event).",
    )
    reuse: bool = Field(
        True,
        description="Reuse windows already analysed with the same settings and the same data "
        "(kept in the lake under tracking/windows/).",
    )
    partial: bool = Field(
        False,
        description="Also analyse the window still in progress (by default the last window "
        "ends at the last full window before now).",
    )
    chart_lineages: int = Field(
        20,
        ge=1,
        description="Lineages drawn one by one in evolution.png (the biggest); the others are "
        "drawn together as 'other'.",
    )
    chart_min_flow: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Flows between lineages smaller than this share of a window's channels "
        "are drawn together with the 'other' band.",
    )


class Settings(BaseSettings):
    """Everything ViewerAtlas can be told. Immutable; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    lake: str = Field("./atlas-data", description="Lake root: a folder or s3://bucket/prefix.")
    preset: Literal["default", "rigorous", "explorer", "debug"] = Field(
        "default", description="Preset the settings started from."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging level."
    )
    twitch: TwitchSettings = Field(default_factory=TwitchSettings)
    kick: KickSettings = Field(default_factory=KickSettings)
    youtube: YouTubeSettings = Field(default_factory=YouTubeSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    vod: VodSettings = Field(default_factory=VodSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    track: TrackSettings = Field(default_factory=TrackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() layers preset < file < environment < flags itself, so that an
        # unknown VIEWERATLAS_ variable is an error naming it rather than silently ignored.
        return (init_settings,)


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "rigorous": {
        "analysis": {
            "overlap_threshold": 300,
            "max_edges_per_channel": 0,
            "min_community_size": 10,
            "min_channel_viewers": 10,
        }
    },
    "explorer": {"analysis": {"resolution": 2.0}},
    "debug": {"analysis": {"max_channels": 100}, "collect": {"top": 100}, "log_level": "DEBUG"},
}


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dict merge; values of ``top`` win, mappings merge key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fields(
    model: type[BaseModel] | None = None, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo, bool]]:
    """Every setting, depth-first in declaration order: (key path, field, is a section)."""
    for name, info in (model or Settings).model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield (*prefix, name), info, True
            yield from _fields(ann, (*prefix, name))
        else:
            yield (*prefix, name), info, False


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    known = {path for path, _, _ in _fields()}
    layer: dict[str, Any] = {}
    for var, section_key in LEGACY_ENV.items():
        if environ.get(var):
            layer.setdefault(section_key[0], {})[section_key[1]] = environ[var]
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        path = tuple(part.lower() for part in var[len(ENV_PREFIX) :].split("__"))
        if path not in known:
            raise ConfigError(f"environment variable {var}: unknown setting {'.'.join(path)!r}")
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return layer


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return _drop_empty_sections(data, Settings)


def _drop_empty_sections(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """A section written with every key commented out (``twitch:``) parses as null: skip it."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        info = model.model_fields.get(key)
        ann = info.annotation if info else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if value is None:
                continue
            if isinstance(value, dict):
                value = _drop_empty_sections(value, ann)
        out[key] = value
    return out


def load_settings(
    *,
    config_file: Path | str | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from every layer; ``overrides`` are the command-line flags."""
    environ = os.environ if environ is None else environ
    file_layer = _read_yaml(Path(config_file)) if config_file else {}
    env_layer = _env_layer(environ)
    overrides = dict(overrides or {})
    name = (
        preset
        or overrides.get("preset")
        or env_layer.get("preset")
        or file_layer.get("preset")
        or "default"
    )
    if name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    merged: dict[str, Any] = {}
    for layer in (PRESETS[name], file_layer, env_layer, overrides):
        merged = deep_merge(merged, layer)
    merged["preset"] = name
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _secret_keys() -> set[tuple[str, ...]]:
    """Key paths of the secret settings (their values are never shown)."""
    return {
        path
        for path, info, section in _fields()
        if not section and "SecretStr" in str(info.annotation)
    }


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err["loc"])
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        msg = f"{key}: unknown setting"
    elif any(
        secret[: len(loc)] == loc or loc[: len(secret)] == secret for secret in _secret_keys()
    ):
        msg = f"{key}: {err['msg']} (value not shown: secrets are never echoed)"
    else:
        got = repr(err.get("input"))
        if len(got) > 80:
            got = got[:77] + "..."
        msg = f"{key}: {err['msg']} (got {got})"
    more = exc.error_count() - 1
    return msg + (f" (+{more} more problems)" if more else "")


def settings_reference() -> list[tuple[str, str, str]]:
    """(key, default, help) for every setting; used by docs and a test."""
    return [
        (".".join(path), repr(info.get_default(call_default_factory=True)), info.description or "")
        for path, info, section in _fields()
        if not section
    ]


def _yaml_value(value: object) -> str:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{int(seconds // size)}{unit}"
        return f"{seconds:g}s"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[]" if not value else "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, Path):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def example_yaml() -> str:
    """``config/config.yaml``: every setting, its default and its help, as commented YAML."""
    lines = [
        "# ViewerAtlas settings. Every key is shown with its default; uncomment to change.",
        "# Precedence: defaults < preset < this file (--config) < VIEWERATLAS_* environment",
        "# (nested with __, e.g. VIEWERATLAS_ANALYSIS__RESOLUTION=2) < command-line flags.",
        "# Durations: 30s, 5m, 1h, 7d (a bare number means seconds).",
        "# Regenerate with: uv run vieweratlas config --example > config/config.yaml",
        "",
    ]

    for path, info, section in _fields():
        pad = "  " * (len(path) - 1)
        name = path[-1]
        if section:
            lines.append(f"{pad}{name}:")
            continue
        help_text = info.description or ""
        if name == "preset":
            help_text += " One of: " + ", ".join(PRESETS) + "."
        lines.append(f"{pad}# {help_text}")
        lines.append(f"{pad}# {name}: {_yaml_value(info.get_default(call_default_factory=True))}")
    return "\n".join(lines) + "\n"


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data: durations as ``5m``, every secret replaced by ``***``."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return {k: plain(getattr(value, k)) for k in type(value).model_fields}
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, timedelta):
            return _yaml_value(value)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return list(value)
        return value

    data: dict[str, Any] = plain(settings)
    return data
