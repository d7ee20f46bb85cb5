"""Throughput of the live IRC collector against a loopback load generator.

A separate process plays Twitch: it accepts the collector's connections, echoes their
JOINs and then sends tagged PRIVMSG lines (about 350 bytes each, like real Twitch chat)
at a set rate, spread evenly over every joined channel. This process runs the real
:class:`~vieweratlas.sources.twitch.collector.LiveCollector` and measures what it handles:

* messages/s sustained and the collector process's CPU share at 1,000 channels;
* the peak rate at 10,000 channels: the rate is raised step by step until the collector
  handles less than 95 % of what was sent (it fell behind) or the generator itself tops out.

Usage: ``uv run python bench/bench_irc.py [--quick]`` (under 2 minutes; ``--quick`` ~30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import tempfile
import time
from multiprocessing.connection import Connection

TICK = 0.01  # generator send period (s)
HIGH_WATER = 4 << 20  # stop writing to a connection whose send buffer holds this much


# ----------------------------------------------------------------------------- generator


_TAGS = (
    "@badge-info=;badges=subscriber/12,premium/1;client-nonce={nonce:016x};color=#1E90FF;"
    "display-name={user};emotes=;first-msg=0;flags=;id={nonce:016x}-0000;mod=0;"
    "returning-chatter=0;room-id=4711;subscriber=1;tmi-sent-ts=1732500000000;turbo=0;"
    "user-id={uid};user-type= :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} "
    ":PogChamp that was a great play, let's go!\r\n"
)
VIEWERS = 2_000_000  # distinct chatters the generator draws from
POOL = 2_000  # pre-built lines per connection (100 channels each): mostly distinct users


def _line(channel: str, rng: random.Random) -> bytes:
    uid = rng.randrange(1, VIEWERS)
    return _TAGS.format(nonce=rng.getrandbits(64), user=f"viewer{uid}", uid=uid,
                        channel=channel).encode()  # fmt: skip


class Generator:
    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe
        self.rate = 0.0
        self.sent = 0
        self.skipped = 0
        self.clients: list[tuple[asyncio.StreamWriter, list[str]]] = []
        self.rng = random.Random(7)
        self.stopping = asyncio.Event()
        self.pools: dict[asyncio.StreamWriter, tuple[int, list[bytes]]] = {}
        self.pos: dict[asyncio.StreamWriter, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channels: list[str] = []
        nick = "x"
        entry: tuple[asyncio.StreamWriter, list[str]] = (writer, channels)
        self.clients.append(entry)
        try:
            while raw := await reader.readline():
                parts = raw.decode(errors="replace").split()
                if not parts:
                    continue
                cmd = parts[0].upper()
                if cmd == "NICK":
                    nick = parts[1]
                    writer.write(f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n".encode())
                elif cmd == "JOIN":
                    for ch in parts[1].split(","):
                        channels.append(ch.lstrip("#"))
                        writer.write(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN {ch}\r\n".encode())
                elif cmd == "PING":
                    writer.write(b":tmi.twitch.tv PONG tmi.twitch.tv\r\n")
        except (ConnectionError, OSError):
            pass
        finally:
            self.clients.remove(entry)

    async def pump(self) -> None:
        last = time.monotonic()
        budget = 0.0
        while not self.stopping.is_set():
            await asyncio.sleep(TICK)
            now = time.monotonic()
            budget += self.rate * (now - last)
            last = now
            live = [c for c in self.clients if c[1]]
            if not live or budget < len(live):
                continue
            per = int(budget // len(live))
            for writer, chans in live:
                if writer.transport.get_write_buffer_size() > HIGH_WATER:
                    self.skipped += per
                    continue
                pool, pos = self._pool(writer, chans)
                n = len(pool)
                if pos + per <= n:
                    chunk = pool[pos : pos + per]
                else:
                    chunk = pool[pos:] + pool[: (pos + per) % n]
                self.pos[writer] = (pos + per) % n
                writer.write(b"".join(chunk))
                self.sent += per
            budget -= per * len(live)

    def _pool(self, writer: asyncio.StreamWriter, chans: list[str]) -> tuple[list[bytes], int]:
        """Pre-built lines for a connection (rebuilt when its channels change): generating
        each line on the fly would make the generator, not the collector, the bottleneck."""
        pool = self.pools.get(writer)
        if pool is None or pool[0] != len(chans):
            lines = [_line(self.rng.choice(chans), self.rng) for _ in range(POOL)]
            pool = self.pools[writer] = (len(chans), lines)
            self.pos[writer] = 0
        return pool[1], self.pos[writer]

    def control(self) -> None:
        while self.pipe.poll():
            try:
                cmd, arg = self.pipe.recv()
            except EOFError:  # the bench process is gone
                asyncio.get_running_loop().remove_reader(self.pipe.fileno())
                self.stopping.set()
                return
            if cmd == "rate":
                self.rate = float(arg)
            elif cmd == "stats":
                self.pipe.send((self.sent, self.skipped))
            elif cmd == "stop":
                self.stopping.set()

    async def main(self) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0, limit=1 << 20)
        self.pipe.send(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self.control)
        await self.pump()
        server.close()


def _generator_process(pipe: Connection) -> None:
    asyncio.run(Generator(pipe).main())


# ----------------------------------------------------------------------------- collector


async def measure(n_channels: int, rates: list[int], seconds: float, pipe: Connection,
                  port: int) -> list[dict[str, float]]:  # fmt: skip
    from vieweratlas.config import load_settings
    from vieweratlas.lake import Lake
    from vieweratlas.sources.common.channels import StaticChannelSource
    from vieweratlas.sources.twitch.collector import LiveCollector

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            overrides={
                "lake": tmp,
                "twitch": {"irc_url": f"irc://127.0.0.1:{port}"},
                "collect": {
                    "interval": "1h",
                    "channels_per_connection": 100,
                    "joins_per_window": 1_000_000,
                    "join_window": "1s",
                },
            },
            environ={},
        )
        channels = [f"chan{i:05d}" for i in range(n_channels)]
        collector = LiveCollector(settings, Lake.open(tmp), StaticChannelSource(channels))
        task = asyncio.create_task(collector.run())
        deadline = time.monotonic() + 60
        while collector.status().channels_joined < n_channels:
            if time.monotonic() > deadline:
                raise SystemExit("the collector did not join every channel in 60 s")
            await asyncio.sleep(0.1)
        rows = []
        for rate in rates:
            pipe.send(("rate", rate))
            await asyncio.sleep(1.0)  # warm up at this rate
            pipe.send(("stats", None))
            sent0, skipped0 = pipe.recv()
            m0, c0, t0 = collector.stats.messages, time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            m1, c1, t1 = collector.stats.messages, time.process_time(), time.monotonic()
            pipe.send(("stats", None))
            sent1, skipped1 = pipe.recv()
            wall = t1 - t0
            rows.append(
                {
                    "channels": n_channels,
                    "target": rate,
                    "sent": (sent1 - sent0) / wall,
                    "handled": (m1 - m0) / wall,
                    "cpu": (c1 - c0) / wall,
                    "skipped": skipped1 - skipped0,
                }
            )
            r = rows[-1]
            print(
                f"  {n_channels:>6} ch  target {rate:>7,}/s  sent {r['sent']:>9,.0f}/s  "
                f"handled {r['handled']:>9,.0f}/s  cpu {r['cpu']:6.1%}",
                flush=True,
            )
            if not kept_up(r):
                break
        pipe.send(("rate", 0))
        users = collector.status().users_open_window
        t = time.monotonic()
        collector.stop()
        await task
        print(f"  final flush of {users:,} presence rows: {time.monotonic() - t:.2f} s")
        return rows


def kept_up(row: dict[str, float]) -> bool:
    """Handled at least 95 % of what was sent in the same interval (the two counters are
    read a pipe round-trip apart, so a few per cent either way is measurement noise)."""
    return row["handled"] >= 0.95 * row["sent"]


def scenario(n_channels: int, rates: list[int], seconds: float) -> list[dict[str, float]]:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_generator_process, args=(child,))
    proc.start()
    try:
        port = parent.recv()
        return asyncio.run(measure(n_channels, rates, seconds, parent, port))
    finally:
        parent.send(("stop", None))
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter steps (~30 s)")
    args = ap.parse_args()
    seconds = 2.0 if args.quick else 4.0
    started = time.monotonic()
    print("sustained, 1,000 channels:")
    sustained = scenario(1_000, [5_000] if args.quick else [5_000, 20_000], seconds)
    print("peak, 10,000 channels (rate raised until the collector falls behind):")
    steps = [10_000, 20_000, 40_000] if args.quick else [10_000, 20_000, 30_000, 40_000,
                                                         60_000, 80_000]  # fmt: skip
    peak_rows = scenario(10_000, steps, seconds)
    held = [r for r in peak_rows if kept_up(r)]
    at_target = [r for r in peak_rows if r["target"] == 20_000]

    print()
    print(
        "| scenario | channels | offered msg/s | handled msg/s | collector CPU (one core = 100 %) |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in sustained + peak_rows:
        kind = "sustained" if r in sustained else "ramp"
        print(f"| {kind} | {r['channels']:,.0f} | {r['sent']:,.0f} | {r['handled']:,.0f} "
              f"| {r['cpu']:.0%} |")  # fmt: skip
    peak = max((r["handled"] for r in held), default=0.0)
    print()
    print(
        f"peak held at 10,000 channels: {peak:,.0f} msg/s"
        + (" (the generator's top step; the collector kept up)" if held == peak_rows else "")
    )
    if at_target:
        r = at_target[0]
        ok = kept_up(r) and r["handled"] >= 0.95 * 20_000 and r["cpu"] < 1.0
        print(
            f"target 20,000 msg/s over 10,000 channels under one core: "
            f"{'met' if ok else 'NOT met'} ({r['handled']:,.0f} msg/s at {r['cpu']:.0%} CPU)"
        )
    print(f"bench time: {time.monotonic() - started:.0f} s; machine: {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip


if __name__ == "__main__":
    main()
