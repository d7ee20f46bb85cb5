"""A second independent generator: two-level planted communities, bridges and loyalty.

Unlike ``vieweratlas.synth`` (viewer-driven) and ``test_recovery.make_world`` (per-row
Python), this one is vectorised so it reaches 20,000 channels in seconds, and it plants
what the analysis claims to find:

- **two levels**: every channel has a community and, inside it, a sub-community; a draw
  from home comes from the channel's own sub-community pool with probability ``focus``,
  else from anywhere in its community;
- **bridges**: a share of channels draw their home audience from two communities (the
  second one gets 35–50 % of it);
- **loyalty**: home viewers come back (1 + Poisson(``loyal_visits``) snapshots), viewers
  drawn from anywhere (the ``mixing`` share) mostly drop by once;
- **bots**: lurkers present in 30–90 % of all channels in every snapshot, and service
  bots by their usual names.

Nothing here imports the code under test except the lake's timestamp type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

SERVICE_BOTS = ("nightbot", "streamelements", "moobot", "streamlabs", "fossabot")
T0 = datetime(2026, 2, 1, tzinfo=UTC)
SNAPSHOTS = 12
BOT_SNAPSHOTS = 3  # bots idle in their channels for a few snapshots (bounded rows)


@dataclass(frozen=True)
class Planted:
    channels: int
    communities: int
    mixing: float
    seed: int
    subs: tuple[int, int] = (2, 4)  # sub-communities per community (inclusive range)
    focus: float = 0.7  # home draws from the channel's own sub-community
    audience: float = 90.0  # median unique viewers per channel
    visits: float = 2.0  # channels per viewer on average
    bridges: float = 0.04  # share of channels with a second community
    lurkers: int = 60
    loyal_visits: float = 2.0
    drive_by_visits: float = 0.15


@dataclass(frozen=True)
class Truth:
    names: list[str]
    community: np.ndarray  # per channel
    subcommunity: np.ndarray  # per channel, unique across the data set
    second: np.ndarray  # second community of a bridge, -1 for ordinary channels
    humans: np.ndarray  # unique human viewers per channel
    bots: list[str]

    @property
    def bridge(self) -> np.ndarray:
        return self.second >= 0


def generate(spec: Planted) -> tuple[pa.Table, Truth]:
    """Presence rows (lake columns, platform twitch) and the planted truth."""
    rng = np.random.default_rng(spec.seed)
    k = spec.communities
    n_subs = rng.integers(spec.subs[0], spec.subs[1] + 1, k)
    sub_parent = np.repeat(np.arange(k), n_subs)
    sub_weight = rng.uniform(1, 3, len(sub_parent)) * rng.uniform(1, 3, k)[sub_parent]
    sub = rng.choice(len(sub_parent), spec.channels, p=sub_weight / sub_weight.sum())
    community = sub_parent[sub]
    second = np.full(spec.channels, -1)
    is_bridge = rng.random(spec.channels) < spec.bridges
    other = (community + rng.integers(1, k, spec.channels)) % k
    second[is_bridge] = other[is_bridge]

    audience = np.maximum(6, rng.lognormal(np.log(spec.audience), 0.9, spec.channels)).astype(int)
    # Pools sized so a viewer visits about ``visits`` channels on average.
    draws_per_sub = np.bincount(sub, weights=audience, minlength=len(sub_parent))
    sub_pool = np.maximum(20, (draws_per_sub / spec.visits).astype(np.int64))
    sub_start = np.concatenate(([0], np.cumsum(sub_pool)))
    comm_start = sub_start[np.searchsorted(sub_parent, np.arange(k))]
    comm_end = sub_start[np.searchsorted(sub_parent, np.arange(k), side="right")]
    n_viewers = int(sub_start[-1])

    owner = np.repeat(np.arange(spec.channels), audience)
    m = len(owner)
    u = rng.random(m)
    anywhere = u < spec.mixing
    home_comm = community[owner].copy()
    share2 = rng.uniform(0.35, 0.5, spec.channels)
    to_second = is_bridge[owner] & (rng.random(m) < share2[owner])
    home_comm[to_second] = second[owner][to_second]
    in_sub = (rng.random(m) < spec.focus) & ~to_second
    lo = np.where(in_sub, sub_start[sub[owner]], comm_start[home_comm])
    hi = np.where(in_sub, sub_start[sub[owner] + 1], comm_end[home_comm])
    viewer = lo + (rng.random(m) * (hi - lo)).astype(np.int64)
    viewer[anywhere] = rng.integers(0, n_viewers, int(anywhere.sum()))
    # One row per (channel, viewer): repeat draws of the same viewer collapse.
    key = np.unique(owner.astype(np.int64) * n_viewers + viewer, return_index=True)[1]
    owner, viewer, anywhere = owner[key], viewer[key], anywhere[key]
    humans = np.bincount(owner, minlength=spec.channels)

    lam = np.where(anywhere, spec.drive_by_visits, spec.loyal_visits)
    visits = np.minimum(1 + rng.poisson(lam), SNAPSHOTS)
    row_owner = np.repeat(owner, visits)
    row_viewer = np.repeat(viewer, visits)
    # Distinct snapshots per (channel, viewer): a random start and consecutive windows.
    start = rng.integers(0, SNAPSHOTS, len(owner))
    step = np.arange(len(row_owner)) - np.repeat(np.cumsum(visits) - visits, visits)
    row_snap = (np.repeat(start, visits) + step) % SNAPSHOTS

    bot_names = [*SERVICE_BOTS, *(f"idle_{i:03d}" for i in range(spec.lurkers))]
    bot_rows: list[np.ndarray] = []
    bot_users: list[np.ndarray] = []
    bot_snaps: list[np.ndarray] = []
    for b in range(len(bot_names)):
        share = rng.uniform(0.3, 0.9)
        chans = np.flatnonzero(rng.random(spec.channels) < share)
        # Each bot sits in its channels for BOT_SNAPSHOTS consecutive snapshots.
        first = rng.integers(0, SNAPSHOTS - BOT_SNAPSHOTS + 1)
        bot_rows.append(np.repeat(chans, BOT_SNAPSHOTS))
        bot_users.append(np.full(len(chans) * BOT_SNAPSHOTS, b))
        bot_snaps.append(np.tile(np.arange(first, first + BOT_SNAPSHOTS), len(chans)))
    bot_owner = np.concatenate(bot_rows)
    bot_snap = np.concatenate(bot_snaps)
    bot_user = np.concatenate(bot_users)

    names = [f"ch{rng.integers(1e6):06d}_{i}" for i in range(spec.channels)]
    human_names = pa.array([f"Fan{v}" for v in range(n_viewers)], pa.string())
    users = pa.chunked_array(
        [
            human_names.take(pa.array(row_viewer)),
            pa.array(bot_names, pa.string()).take(pa.array(bot_user)),
        ]
    )
    channel_names = pa.array(names, pa.string())
    channel = pa.chunked_array(
        [channel_names.take(pa.array(row_owner)), channel_names.take(pa.array(bot_owner))]
    )
    snap = np.concatenate([row_snap, bot_snap]).astype(np.int64)
    ts = pa.array((int(T0.timestamp()) + 300 * snap) * 1_000_000, pa.timestamp("us", tz="UTC"))
    rows = len(ts)
    presence = pa.table(
        {
            "ts": ts,
            "channel": channel,
            "user": users,
            "user_id": pa.nulls(rows, pa.string()),
            "source": pa.array(["import"] * rows, pa.string()),
            "messages": pa.array(np.zeros(rows, np.int32)),
            "platform": pa.array(["twitch"] * rows, pa.string()),
        }
    )
    truth = Truth(names, community, sub, second, humans, bot_names)
    return presence, truth
