"""A Twitch-like synthetic data set with a planted truth, for the demo, tests and benchmarks.

The model, all vectorised with NumPy:

* channels have heavy-tailed (Pareto) popularity and belong to planted communities; each
  community has its own language and a few games;
* each viewer has a home community, visits a handful of channels (heavy-tailed count), each
  chosen in the home community with probability ``1 - mixing`` and anywhere otherwise, both
  weighted by popularity, and is present in several snapshots of each channel (repeat visits);
* lurker bots (not on any blocklist) sit in a large share of all channels in every snapshot,
  and service bots (nightbot, streamelements, …) are in many channels and chat there.

The planted truth (channel → community, game, language; the bot accounts) is returned and
written to the lake under ``synthetic/`` so recovery can be measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.lake.schema import TS

SERVICE_BOTS = ("nightbot", "streamelements", "moobot", "fossabot", "streamlabs", "sery_bot")
LANGUAGES = ("en", "es", "de", "fr", "pt", "ru", "ja", "ko", "it", "pl", "tr", "zh")
GAMES = (
    "Just Chatting", "League of Legends", "Grand Theft Auto V", "VALORANT", "Counter-Strike",
    "Minecraft", "Fortnite", "Dota 2", "World of Warcraft", "Apex Legends", "Hearthstone",
    "Teamfight Tactics", "Rocket League", "Elden Ring", "Overwatch 2", "Dead by Daylight",
    "Call of Duty: Warzone", "Slots", "Art", "Music", "Chess", "EA Sports FC", "Rust",
    "Escape from Tarkov", "Pokémon", "Path of Exile", "Software and Game Development",
    "Retro", "Speedrunning", "Lost Ark",
)  # fmt: skip
_SYLLABLES = (
    "ka", "zu", "mi", "ro", "xi", "lo", "ne", "ta", "vy", "pa", "qu", "shi", "do", "re",
    "gan", "tor", "lyn", "mar", "kev", "sol", "jin", "ax", "el", "or", "im", "ul",
)  # fmt: skip


@dataclass(frozen=True)
class SynthSpec:
    """What to generate; every field is a knob of the model above."""

    channels: int = 500
    viewers: int = 50_000
    communities: int = 8
    seed: int = 0
    mixing: float = 0.15  # share of a viewer's visits outside their home community
    windows: int = 24  # snapshots
    window: timedelta = timedelta(hours=1)
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    visits_mean: float = 3.0  # mean distinct channels per viewer (heavy-tailed)
    repeat_mean: float = 3.0  # mean snapshots per (viewer, channel)
    popularity_alpha: float = 1.2  # Pareto tail of channel popularity (smaller = heavier)
    lurker_bots: int = 20
    lurker_share: tuple[float, float] = (0.3, 0.9)  # share of channels a lurker sits in
    service_bot_share: float = 0.4


@dataclass(frozen=True)
class SynthData:
    presence: pa.Table  # lake presence columns + platform
    channels: pa.Table  # lake channels columns + platform
    truth: pa.Table  # channel, community, game, language, popularity
    bots: tuple[str, ...]  # every bot account generated (lurkers and service bots)
    spec: SynthSpec
    creators: pa.Table | None = None  # creator, platform, channel (multi-platform worlds)

    def manifest(self) -> dict[str, object]:
        return _manifest(self.spec, self.presence.num_rows, self.truth.num_rows, self.bots)

    def manifest_json(self) -> bytes:
        return json.dumps(self.manifest(), indent=2).encode()


def _manifest(
    spec: SynthSpec, presence_rows: int, channels: int, bots: tuple[str, ...]
) -> dict[str, object]:
    fields = {k: str(v) if isinstance(v, datetime | timedelta) else v
              for k, v in asdict(spec).items()}  # fmt: skip
    return {"spec": fields, "presence_rows": presence_rows, "channels": channels,
            "bots": list(bots)}  # fmt: skip


def _names(rng: np.random.Generator, n: int, prefix: str = "") -> list[str]:
    """n distinct lower-case logins that look like Twitch names."""
    syl = np.array(_SYLLABLES)
    parts = syl[rng.integers(0, len(syl), size=(n, 3))]
    return [f"{prefix}{a}{b}{c}_{i}" for i, (a, b, c) in enumerate(parts.tolist())]


def _community_sizes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Uneven community sizes (Dirichlet shares), each at least 3 channels."""
    k = max(1, min(k, n // 3))
    shares = rng.dirichlet(np.full(k, 2.0))
    sizes = np.maximum(3, np.floor(shares * (n - 3 * k)).astype(np.int64) + 3)
    sizes[np.argmax(sizes)] += n - sizes.sum()
    return sizes


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort and a mask: NumPy 2's hashing ``np.unique`` is many
    times slower on large int64 arrays)."""
    out = np.sort(values)
    keep: np.ndarray = out[np.concatenate(([True], out[1:] != out[:-1]))] if len(out) else out
    return keep


def _weighted_pick(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    picks: np.ndarray = np.searchsorted(cdf, rng.random(count) * cdf[-1])
    out: np.ndarray = np.minimum(picks, len(cdf) - 1)
    return out


@dataclass(frozen=True)
class _World:
    """The channels of a generated world and the (viewer, channel) pairs it watches."""

    community: np.ndarray  # planted community per channel
    popularity: np.ndarray
    ch_game: np.ndarray  # index into GAMES per channel
    ch_lang: np.ndarray  # index into LANGUAGES per channel
    p_viewer: np.ndarray  # sorted (viewer, channel) pairs: viewer
    p_channel: np.ndarray  # … and channel


def _world(spec: SynthSpec, rng: np.random.Generator) -> _World:
    """Channels with communities, games and languages, and the pairs viewers watch."""
    n_ch, k = spec.channels, spec.communities
    sizes = _community_sizes(rng, n_ch, k)
    k = len(sizes)
    community = np.repeat(np.arange(k), sizes)
    rng.shuffle(community)
    order = np.argsort(community, kind="stable")  # channels grouped by community
    popularity = rng.pareto(spec.popularity_alpha, n_ch) + 1.0

    # Community attributes: a language (several communities may share one) and 1-3 games.
    comm_lang = rng.choice(len(LANGUAGES), size=k, p=_lang_weights())
    comm_games = [rng.choice(len(GAMES), size=rng.integers(1, 4), replace=False) for _ in range(k)]
    own_game = rng.random(n_ch) < 0.9
    ch_game = np.array(
        [rng.choice(comm_games[c]) if own_game[i] else rng.integers(len(GAMES))
         for i, c in enumerate(community.tolist())]
    )  # fmt: skip
    ch_lang = np.where(rng.random(n_ch) < 0.95, comm_lang[community],
                       rng.integers(len(LANGUAGES), size=n_ch))  # fmt: skip

    # Viewers: home community in proportion to its total popularity.
    comm_pop = np.bincount(community, weights=popularity, minlength=k)
    home = _weighted_pick(rng, np.cumsum(comm_pop), spec.viewers)
    visits = np.minimum(
        1 + rng.geometric(1.0 / max(spec.visits_mean, 1.0), spec.viewers) - 1
        + (rng.pareto(2.5, spec.viewers) * 0.5).astype(np.int64),
        n_ch,
    )  # fmt: skip
    visits = np.maximum(visits, 1)
    viewer = np.repeat(np.arange(spec.viewers), visits)
    m = len(viewer)
    inside = rng.random(m) >= spec.mixing
    chosen = np.empty(m, dtype=np.int64)
    # Inside the home community: popularity-weighted pick among its channels.
    sorted_pop = popularity[order]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    cum = np.cumsum(sorted_pop)
    base = np.concatenate([[0.0], cum])[starts[:-1]]
    h = home[viewer[inside]]
    u = base[h] + rng.random(len(h)) * (cum[starts[1:] - 1][h] - base[h])
    pos = np.clip(np.searchsorted(cum, u), starts[h], starts[h + 1] - 1)
    chosen[inside] = order[pos]
    del h, u, pos
    chosen[~inside] = _weighted_pick(rng, np.cumsum(popularity), int((~inside).sum()))
    pairs = _distinct(viewer.astype(np.int64) * n_ch + chosen)
    del viewer, chosen, inside
    return _World(community, popularity, ch_game, ch_lang, pairs // n_ch, pairs % n_ch)


def generate(spec: SynthSpec) -> SynthData:
    """The whole data set in memory (see :func:`generate_stream` for sizes that do not fit)."""
    rng = np.random.default_rng(spec.seed)
    n_ch = spec.channels
    world = _world(spec, rng)
    p_viewer, p_channel = world.p_viewer, world.p_channel

    # Repeat visits: each (viewer, channel) pair is present in a few snapshots.
    repeats = np.minimum(
        rng.geometric(1.0 / max(spec.repeat_mean, 1.0), len(p_viewer)), spec.windows
    )
    r_viewer = np.repeat(p_viewer, repeats)
    r_channel = np.repeat(p_channel, repeats)
    r_window = rng.integers(0, spec.windows, len(r_viewer))
    # One row per (viewer, channel, snapshot), as the lake stores it.
    _, first = np.unique((r_viewer * n_ch + r_channel) * spec.windows + r_window, return_index=True)
    first.sort()
    r_viewer, r_channel, r_window = r_viewer[first], r_channel[first], r_window[first]
    messages = (rng.random(len(r_viewer)) < 0.2) * rng.geometric(0.3, len(r_viewer))

    ch_names = np.array(_names(rng, n_ch), dtype=object)
    viewer_names = pc.binary_join_element_wise(
        "v", pc.cast(pa.array(np.arange(spec.viewers)), pa.string()), ""
    )
    lurkers = [f"{name}" for name in _names(rng, spec.lurker_bots, prefix="lurk")]

    rows: dict[str, list[pa.Array]] = {"user": [], "channel": [], "window": [], "messages": []}
    rows["user"].append(viewer_names.take(pa.array(r_viewer)))
    rows["channel"].append(pa.array(r_channel))
    rows["window"].append(pa.array(r_window))
    rows["messages"].append(pa.array(messages.astype(np.int32)))
    # Lurker bots: a large share of channels, present in (nearly) every snapshot.
    for name in lurkers:
        share = rng.uniform(*spec.lurker_share)
        chans = np.flatnonzero(rng.random(n_ch) < share)
        wins = np.arange(spec.windows)
        _add_bot(rows, name, np.repeat(chans, len(wins)), np.tile(wins, len(chans)), 0)
    # Service bots: chat in many channels, in the windows those channels have viewers.
    for name in SERVICE_BOTS:
        chans = np.flatnonzero(rng.random(n_ch) < spec.service_bot_share)
        wins = rng.integers(0, spec.windows, len(chans) * 3)
        _add_bot(rows, name, np.repeat(chans, 3), wins, 1)

    channel_idx = pa.chunked_array(rows["channel"]).combine_chunks()
    window_idx = np.concatenate([a.to_numpy() for a in rows["window"]])
    start_us = int(spec.start.timestamp() * 1_000_000)
    step_us = int(spec.window.total_seconds() * 1_000_000)
    total = len(channel_idx)
    presence = pa.table(
        {
            "ts": pa.array(start_us + window_idx.astype(np.int64) * step_us, TS),
            "channel": pa.array(ch_names).take(channel_idx),
            "user": pa.chunked_array(rows["user"], pa.string()).combine_chunks(),
            "user_id": pa.nulls(total, pa.string()),
            "source": pa.array(np.full(total, "synthetic", dtype=object), pa.string()),
            "messages": pa.chunked_array(rows["messages"], pa.int32()).combine_chunks(),
            "platform": pa.array(np.full(total, "twitch", dtype=object), pa.string()),
        }
    )
    channels, truth = _channel_tables(spec, world, ch_names)
    return SynthData(presence, channels, truth, (*lurkers, *SERVICE_BOTS), spec)


@dataclass(frozen=True)
class SynthStream:
    """The same model as :func:`generate`, for sizes whose presence does not fit in memory
    as one table: everything but the presence rows is here, and :meth:`parts` yields the
    presence a run of consecutive snapshots at a time (parts never overlap in time, so
    each write into the lake stands alone). Memory: a few bytes per row (each row's
    snapshot as int16, each pair's offset) plus one part's table.
    """

    spec: SynthSpec
    channels: pa.Table
    truth: pa.Table
    bots: tuple[str, ...]
    pair_viewer: np.ndarray  # int32 per (viewer, channel) pair, sorted by viewer then channel
    pair_channel: np.ndarray  # int32
    pair_offset: np.ndarray  # int64: rows of pair i are row_window[offset[i]:offset[i + 1]]
    row_window: np.ndarray  # int16 snapshot of every viewer row (duplicates dropped per part)
    lurker_channels: tuple[np.ndarray, ...]  # channels each lurker bot sits in (every snapshot)
    service_rows: tuple[np.ndarray, np.ndarray, np.ndarray]  # bot index, channel, snapshot

    def manifest(self, presence_rows: int) -> dict[str, object]:
        return _manifest(self.spec, presence_rows, self.truth.num_rows, self.bots)

    def parts(self, snapshots: int) -> Iterator[pa.Table]:
        """Presence tables of ``snapshots`` consecutive snapshots each, in time order."""
        spec, n_lurk = self.spec, len(self.lurker_channels)
        viewer_names = pc.binary_join_element_wise(
            "v", pc.cast(pa.array(np.arange(spec.viewers)), pa.string()), ""
        )
        ch_names = self.channels["channel"].combine_chunks()
        bot_names = pa.array(self.bots, pa.string())
        start_us = int(spec.start.timestamp() * 1_000_000)
        step_us = int(spec.window.total_seconds() * 1_000_000)
        svc_bot, svc_channel, svc_window = self.service_rows
        for w0 in range(0, spec.windows, max(1, snapshots)):
            w1 = min(spec.windows, w0 + max(1, snapshots))
            rows = np.flatnonzero((self.row_window >= w0) & (self.row_window < w1))
            pair = np.searchsorted(self.pair_offset, rows, side="right") - 1
            key = _distinct(pair * spec.windows + self.row_window[rows])  # viewer, channel, ts
            del rows, pair
            pair, window = key // spec.windows, key % spec.windows
            rng = np.random.default_rng([spec.seed, 1, w0])
            n = len(key)
            messages = (rng.random(n) < 0.2) * rng.geometric(0.3, n)
            wins = np.arange(w0, w1)
            lurk_ch = [np.repeat(c, len(wins)) for c in self.lurker_channels]
            lurk_win = [np.tile(wins, len(c)) for c in self.lurker_channels]
            svc = (svc_window >= w0) & (svc_window < w1)
            bot = np.concatenate(
                [np.repeat(np.arange(n_lurk), [len(c) for c in lurk_ch]), n_lurk + svc_bot[svc]]
            ).astype(np.int64)
            bot_ch = np.concatenate([*lurk_ch, svc_channel[svc]]).astype(np.int64)
            bot_win = np.concatenate([*lurk_win, svc_window[svc]]).astype(np.int64)
            total = n + len(bot)
            yield pa.table(
                {
                    "ts": pa.array(
                        start_us + np.concatenate([window, bot_win]).astype(np.int64) * step_us, TS
                    ),
                    "channel": ch_names.take(
                        pa.array(np.concatenate([self.pair_channel[pair], bot_ch]))
                    ),
                    "user": pa.concat_arrays(
                        [
                            viewer_names.take(pa.array(self.pair_viewer[pair])),
                            bot_names.take(pa.array(bot)),
                        ]
                    ),
                    "user_id": pa.nulls(total, pa.string()),
                    "source": pa.repeat(pa.scalar("synthetic"), total),
                    "messages": pa.array(
                        np.concatenate([messages, (bot >= n_lurk)]).astype(np.int32)
                    ),
                    "platform": pa.repeat(pa.scalar("twitch"), total),
                }
            )


def generate_stream(spec: SynthSpec) -> SynthStream:
    """:func:`generate`'s model in bounded memory (not the same rows for the same seed)."""
    rng = np.random.default_rng(spec.seed)
    world = _world(spec, rng)
    n_pairs = len(world.p_viewer)
    offset = np.zeros(n_pairs + 1, np.int64)
    window = np.empty(0, np.int16)
    chunk = 4_000_000  # pairs at a time: bounded temporaries
    parts = []
    for i in range(0, n_pairs, chunk):
        m = min(chunk, n_pairs - i)
        repeats = np.minimum(rng.geometric(1.0 / max(spec.repeat_mean, 1.0), m), spec.windows)
        offset[i + 1 : i + 1 + m] = repeats
        parts.append(rng.integers(0, spec.windows, int(repeats.sum()), dtype=np.int16))
    window = np.concatenate(parts) if parts else window
    del parts
    np.cumsum(offset, out=offset)
    ch_names = np.array(_names(rng, spec.channels), dtype=object)
    lurkers = tuple(_names(rng, spec.lurker_bots, prefix="lurk"))
    lurker_channels = tuple(
        np.flatnonzero(rng.random(spec.channels) < rng.uniform(*spec.lurker_share)) for _ in lurkers
    )
    svc = [np.flatnonzero(rng.random(spec.channels) < spec.service_bot_share) for _ in SERVICE_BOTS]
    service = (
        np.repeat(np.arange(len(SERVICE_BOTS)), [3 * len(c) for c in svc]),
        np.concatenate([np.repeat(c, 3) for c in svc]),
        rng.integers(0, spec.windows, 3 * sum(len(c) for c in svc)),
    )
    channels, truth = _channel_tables(spec, world, ch_names)
    return SynthStream(
        spec=spec,
        channels=channels,
        truth=truth,
        bots=(*lurkers, *SERVICE_BOTS),
        pair_viewer=world.p_viewer.astype(np.int32),
        pair_channel=world.p_channel.astype(np.int32),
        pair_offset=offset,
        row_window=window,
        lurker_channels=lurker_channels,
        service_rows=service,
    )


def _channel_tables(
    spec: SynthSpec, world: _World, ch_names: np.ndarray
) -> tuple[pa.Table, pa.Table]:
    """The channels' metadata rows and the planted truth."""
    n_ch = spec.channels
    ch_game, ch_lang, community, popularity = (
        world.ch_game, world.ch_lang, world.community, world.popularity
    )  # fmt: skip
    p_channel = world.p_channel
    game_names = np.array(GAMES, dtype=object)[ch_game]
    lang_names = np.array(LANGUAGES, dtype=object)[ch_lang]
    unique_viewers = np.bincount(p_channel, minlength=n_ch)
    channels = pa.table(
        {
            "ts": pa.array([spec.start] * n_ch, TS),
            "channel": pa.array(ch_names, pa.string()),
            "channel_id": pa.array([str(100_000 + i) for i in range(n_ch)]),
            "display_name": pa.array([name.capitalize() for name in ch_names]),
            "game": pa.array(game_names, pa.string()),
            "language": pa.array(lang_names, pa.string()),
            "viewers": pa.array(unique_viewers.astype(np.int64)),
            "title": pa.array([f"{g} with chat" for g in game_names], pa.string()),
            "platform": pa.array(["twitch"] * n_ch),
        }
    )
    truth = pa.table(
        {
            "channel": pa.array(ch_names, pa.string()),
            "community": pa.array(community.astype(np.int32)),
            "game": pa.array(game_names, pa.string()),
            "language": pa.array(lang_names, pa.string()),
            "popularity": pa.array(popularity),
        }
    )
    return channels, truth


def _add_bot(
    rows: dict[str, list[pa.Array]],
    name: str,
    channels: np.ndarray,
    windows: np.ndarray,
    messages: int,
) -> None:
    n = len(channels)
    rows["user"].append(pa.array([name] * n, pa.string()))
    rows["channel"].append(pa.array(channels.astype(np.int64)))
    rows["window"].append(pa.array(windows.astype(np.int64)))
    rows["messages"].append(pa.array(np.full(n, messages, dtype=np.int32)))


def _lang_weights() -> np.ndarray:
    w: np.ndarray = np.array([6, 2, 1.5, 1.2, 1.2, 1, 0.8, 0.8, 0.6, 0.6, 0.5, 0.4])
    return w / float(w.sum())


# Share of channels (and of viewers) each platform gets in a multi-platform world.
PLATFORM_WEIGHTS = {"twitch": 0.6, "kick": 0.25, "youtube": 0.15}


def spread_platforms(
    data: SynthData, platforms: tuple[str, ...], creator_share: float, seed: int
) -> SynthData:
    """The same world spread over ``platforms``: every viewer and every channel gets a home
    platform; a ``creator_share`` of channels also stream on a second platform (their
    creator is in ``creators``). A viewer only watches the channels on their platform, so
    audiences split by platform and only creators tie platforms together. Channel names:
    as generated on Twitch and Kick, ``@name`` on YouTube; YouTube viewers get ``UC…`` ids.
    Bots stay on the first platform.
    """
    if len(platforms) < 2:
        return data
    rng = np.random.default_rng([seed, 7])
    weights = np.array([PLATFORM_WEIGHTS.get(p, 0.2) for p in platforms])
    weights /= weights.sum()
    base = data.truth["channel"]
    n_ch, n_pf = len(base), len(platforms)
    home = rng.choice(n_pf, size=n_ch, p=weights)
    second = (home + rng.integers(1, n_pf, n_ch)) % n_pf
    both = rng.random(n_ch) < creator_share
    mask = (1 << home) | np.where(both, 1 << second, 0)

    presence = data.presence
    users = pc.unique(presence["user"])
    user_pf = rng.choice(n_pf, size=len(users), p=weights)
    user_pf[pc.is_in(users, value_set=pa.array(data.bots)).to_numpy(zero_copy_only=False)] = 0
    row_user = pc.index_in(presence["user"], value_set=users).to_numpy()
    row_ch = pc.index_in(presence["channel"], value_set=base).to_numpy()
    row_pf = user_pf[row_user]
    keep = ((mask[row_ch] >> row_pf) & 1).astype(bool)
    presence = presence.filter(pa.array(keep))
    row_pf, row_user = row_pf[keep], row_user[keep]
    names = pa.array(platforms, pa.string())
    platform_col = names.take(pa.array(row_pf))
    youtube = platforms.index("youtube") if "youtube" in platforms else -1
    handle = pc.binary_join_element_wise("@", base, "")
    channel_col = pc.if_else(
        pa.array(row_pf == youtube), handle.take(pa.array(row_ch[keep])), presence["channel"]
    )
    uc = pc.binary_join_element_wise(
        "UC", pc.utf8_lpad(pc.cast(pa.array(row_user), pa.string()), 22, "0"), ""
    )
    user_col = pc.if_else(pa.array(row_pf == youtube), uc, presence["user"])
    presence = presence.set_column(presence.schema.get_field_index("channel"), "channel",
                                   channel_col)  # fmt: skip
    presence = presence.set_column(presence.schema.get_field_index("user"), "user", user_col)
    presence = presence.set_column(presence.schema.get_field_index("platform"), "platform",
                                   platform_col)  # fmt: skip

    # One metadata row per (channel, platform it streams on); creators for the doubles.
    ch_idx, pf_idx = np.nonzero((mask[:, None] >> np.arange(n_pf)) & 1)
    on_yt = pa.array(pf_idx == youtube)
    per_name = pc.if_else(on_yt, handle.take(pa.array(ch_idx)), base.take(pa.array(ch_idx)))
    meta_idx = pc.index_in(base, value_set=data.channels["channel"]).to_numpy()
    channels = data.channels.take(pa.array(meta_idx[ch_idx]))
    channels = channels.set_column(channels.schema.get_field_index("channel"), "channel",
                                   per_name)  # fmt: skip
    channels = channels.set_column(channels.schema.get_field_index("platform"), "platform",
                                   names.take(pa.array(pf_idx)))  # fmt: skip
    doubles = pa.array(both[ch_idx])
    creators = pa.table(
        {
            "creator": base.take(pa.array(ch_idx)).filter(doubles),
            "platform": names.take(pa.array(pf_idx)).filter(doubles),
            "channel": per_name.filter(doubles),
        }
    )
    yt_truth = data.truth.filter(pa.array((mask >> max(youtube, 0)) & 1 == 1) if youtube >= 0
                                 else pa.array(np.zeros(n_ch, dtype=bool)))  # fmt: skip
    yt_truth = yt_truth.set_column(0, "channel", pc.binary_join_element_wise(
        "@", yt_truth["channel"], ""))  # fmt: skip
    truth = pa.concat_tables([data.truth, yt_truth])
    return replace(data, presence=presence, channels=channels, truth=truth, creators=creators)
