"""A week of daily presence with planted community events, owned by the tests.

Independent of ``vieweratlas.synth``: each planted group is a set of channels and a pool of
viewers who visit a few of those channels a day (plus a little noise elsewhere). Over the
days one community splits in two, two merge, one dies (its channels stop), one is born (new
channels), and a few channels migrate to another community (their audience becomes that
community's). ``truth`` says which group every channel belongs to on every day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

T0 = datetime(2026, 3, 2, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class EventsSpec:
    communities: int = 10
    channels: int = 24  # per community
    viewers: int = 360  # per community and day
    visits: int = 4  # channel visits per viewer and day (inside the home group)
    noise: float = 0.03  # share of viewers who also visit one random channel
    days: int = 7
    snapshots: int = 3  # per day
    migrants: int = 3
    seed: int = 0
    platform: str = "twitch"
    # the day each event shows (0 = first day)
    migrate_day: int = 1
    split_day: int = 2
    merge_day: int = 3
    death_day: int = 4
    birth_day: int = 5


@dataclass(frozen=True)
class PlantedWeek:
    spec: EventsSpec
    presence: pa.Table  # ts, platform, channel, user, source, messages
    truth: pa.Table  # day, channel, group (the planted community that day)
    days: list[str] = field(default_factory=list)  # ISO start of each day
    split: int = 0  # original community that splits
    merged: tuple[int, int] = (1, 2)
    died: int = 3
    migrants: tuple[str, ...] = ()  # channels that move from community 4 to 5
    born_channels: tuple[str, ...] = ()
    died_channels: tuple[str, ...] = ()


def channel_name(community: int, j: int) -> str:
    return f"ch{community:03d}x{j:03d}"


def generate(spec: EventsSpec = EventsSpec()) -> PlantedWeek:
    rng = np.random.default_rng(spec.seed)
    k = spec.communities
    base = {c: [channel_name(c, j) for j in range(spec.channels)] for c in range(k)}
    newborn = [channel_name(k, j) for j in range(spec.channels)]
    migrants = base[4][: spec.migrants]
    tables, truth = [], []
    days = []
    for day in range(spec.days):
        start = T0 + timedelta(days=day)
        days.append(start.date().isoformat())
        groups: dict[str, tuple[list[str], int, str]] = {}  # name -> channels, viewers, pool
        for c in range(k):
            chans = list(base[c])
            if c == 4 and day >= spec.migrate_day:
                chans = chans[spec.migrants :]
            if c == 5 and day >= spec.migrate_day:
                chans = chans + migrants
            if c == 3 and day >= spec.death_day:
                continue
            if c == 0 and day >= spec.split_day:
                half = len(chans) // 2
                groups["0a"] = (chans[:half], spec.viewers // 2, "p0a")
                groups["0b"] = (chans[half:], spec.viewers // 2, "p0b")
                continue
            if c in (1, 2) and day >= spec.merge_day:
                name = "1+2"
                prev = groups.get(name, ([], 0, "p1"))
                groups[name] = (prev[0] + chans, prev[1] + spec.viewers, "p12")
                continue
            groups[str(c)] = (chans, spec.viewers, f"p{c}")
        if day >= spec.birth_day:
            groups[str(k)] = (newborn, spec.viewers, f"p{k}")
        everything = np.array([ch for g in groups.values() for ch in g[0]])
        for name, (chans, n_viewers, pool) in groups.items():
            truth.append(
                pa.table(
                    {"day": [days[-1]] * len(chans), "channel": chans, "group": [name] * len(chans)}
                )
            )
            tables.append(_visits(rng, spec, start, np.array(chans), n_viewers, pool, everything))
    presence = pa.concat_tables(tables)
    return PlantedWeek(
        spec=spec,
        presence=presence,
        truth=pa.concat_tables(truth),
        days=days,
        migrants=tuple(migrants),
        born_channels=tuple(newborn),
        died_channels=tuple(base[3]),
    )


def _visits(
    rng: np.random.Generator,
    spec: EventsSpec,
    start: datetime,
    chans: np.ndarray,
    n_viewers: int,
    pool: str,
    everything: np.ndarray,
) -> pa.Table:
    """One group's day: each viewer visits ``visits`` of its channels (a few also one
    random channel anywhere), each visit in a random snapshot; one row per key."""
    home = np.flatnonzero(np.isin(everything, chans))
    users = np.repeat(np.arange(n_viewers), spec.visits)
    chan = home[rng.integers(0, len(home), len(users))]
    noisy = np.flatnonzero(rng.random(n_viewers) < spec.noise)
    users = np.concatenate([users, noisy])
    chan = np.concatenate([chan, rng.integers(0, len(everything), len(noisy))])
    snap = rng.integers(0, spec.snapshots, len(users))
    key = (users.astype(np.int64) * len(everything) + chan) * spec.snapshots + snap
    _, first = np.unique(key, return_index=True)
    step = int(timedelta(days=1).total_seconds() * 1e6) // spec.snapshots
    t0 = int(start.timestamp() * 1e6)
    n = len(first)
    user_names = pc.binary_join_element_wise(
        f"{pool}v", pa.array(users[first]).cast(pa.string()), ""
    )
    return pa.table(
        {
            "ts": pa.array(t0 + step * snap[first], pa.int64()).cast(TS),
            "platform": pa.repeat(pa.scalar(spec.platform), n),
            "channel": pa.array(everything[chan[first]]),
            "user": user_names,
            "user_id": pa.nulls(n, pa.string()),
            "source": pa.repeat(pa.scalar("import"), n),
            "messages": pa.array(np.zeros(n, np.int32)),
        }
    )
