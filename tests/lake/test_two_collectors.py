"""Two live collectors on one channel write the same window into one lake at the same time:
readers and the analysis find every key exactly once, and every earlier row is still there.

Real collectors against the scripted Twitch IRC server on loopback, on a local folder and on
S3 (moto on loopback), see ``conftest.lake_url``.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from lakedata import T0, presence

sys.path.insert(0, str(Path(__file__).parents[1] / "sources" / "twitch"))
from irc_helpers import FakeClock, eventually, live_settings
from twitch_server import TwitchServer, joined_all

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.lake import Lake
from vieweratlas.sources.common.channels import StaticChannelSource
from vieweratlas.sources.twitch.collector import LiveCollector

KEY = ["ts", "platform", "channel", "user"]
CHATTERS = [f"chatter{i}" for i in range(100)]
LURKERS = [f"lurker{i}" for i in range(50)]


def test_two_collectors_on_one_window_store_each_key_once(lake_url: str) -> None:
    earlier = [(T0 - timedelta(hours=3), "one", f"early{i}") for i in range(40)]
    Lake.open(lake_url).write("presence", presence(earlier))
    server = TwitchServer(members={"one": LURKERS}).start()
    clock = FakeClock(T0 + timedelta(minutes=1))
    settings = live_settings(server.url, lake_url, interval="5m")

    async def scenario() -> list[LiveCollector]:
        collectors = [
            LiveCollector(settings, Lake.open(lake_url), StaticChannelSource(["one"]), clock=clock)
            for _ in range(2)
        ]
        # The first collector is there earlier and sees more: the two windows hold the
        # same keys with different rows (so neither write is skipped as identical).
        tasks = [asyncio.create_task(collectors[0].run())]
        await server.await_for(joined_all(server, ["one"]))
        for user in CHATTERS[:30]:
            server.privmsg("one", user)
        await eventually(lambda: collectors[0].stats.messages == 30)
        tasks.append(asyncio.create_task(collectors[1].run()))
        await server.await_for(
            lambda: len(server.alive()) == 2 and all("one" in c.channels for c in server.alive())
        )
        for user in CHATTERS:
            server.privmsg("one", user)
        await eventually(lambda: collectors[0].stats.messages == 30 + len(CHATTERS))
        await eventually(lambda: collectors[1].stats.messages == len(CHATTERS))
        clock.advance(timedelta(minutes=5))  # the window closes for both
        # Both write the same window at once (each write runs in its own thread).
        written = await asyncio.gather(*(c.flush() for c in collectors))
        assert all(n > 0 for n in written)
        for c in collectors:
            c.stop()
        await asyncio.gather(*tasks)
        return collectors

    try:
        asyncio.run(scenario())
    finally:
        server.stop()

    lake = Lake.open(lake_url)
    table = lake.read("presence", columns=[*KEY, "messages"])
    keys = list(zip(*(table.column(k).to_pylist() for k in KEY), strict=True))
    users, counts = table.column("user").to_pylist(), table.column("messages").to_pylist()
    messages = dict(zip(users, counts, strict=True))
    # Of two rows for one key, readers keep the one with most messages.
    assert [messages[u] for u in CHATTERS] == [2] * 30 + [1] * 70
    assert len(keys) == len(set(keys))  # every key exactly once
    window = {u for ts, _, _, u in keys if ts == T0}
    assert window == set(CHATTERS) | set(LURKERS)
    assert {u for _, _, u in earlier} <= {u for _, _, _, u in keys}  # nothing earlier lost
    # Lurkers (NAMES) stay present until they part: carried into the next window as well.
    assert {u for ts, _, _, u in keys if ts == T0 + timedelta(minutes=5)} == set(LURKERS)
    expected = len(earlier) + len(CHATTERS) + 2 * len(LURKERS)
    assert len(keys) == expected
    # The analysis sees the same: each (user, channel) once per window.
    inc = aggregate(
        lake.read("presence", columns=["ts", "channel", "user"], dictionary=("channel", "user"))
    )
    assert inc.presence_rows == expected
    assert int(inc.matrix.sum()) == expected
    # Both collectors really wrote: the window sits in two files that readers de-duplicate.
    assert len(lake.list_files("curated/presence")) >= 3
