from __future__ import annotations

from presence_rows import presence

from vieweratlas.analysis.aggregate import aggregate
from vieweratlas.analysis.bots import detect_bots, shipped_blocklist
from vieweratlas.config import BotSettings


def removed(rows: list[tuple[int, str, str]], settings: BotSettings) -> set[str]:
    inc = aggregate(presence(rows))
    report = detect_bots(inc, settings)
    return {u for u, r in zip(inc.users.to_pylist(), report.removed, strict=True) if r}


def test_blocklist_holds_the_well_known_service_bots() -> None:
    for name in ("nightbot", "streamelements", "moobot", "fossabot", "streamlabs", "commanderroot"):
        assert name in shipped_blocklist()
    assert all(name == name.lower().strip() for name in shipped_blocklist())


def test_blocklisted_and_extra_accounts_are_removed_even_in_one_channel() -> None:
    rows = [(0, "a", "nightbot"), (0, "a", "human"), (0, "a", "mybot")]
    assert removed(rows, BotSettings(extra=("mybot",))) == {"nightbot", "mybot"}
    assert removed(rows, BotSettings(blocklist=False)) == set()


def test_a_viewer_in_an_implausible_share_of_channels_is_removed() -> None:
    channels = [f"c{i}" for i in range(100)]
    rows = [(i % 7, c, "lurker") for i, c in enumerate(channels[:60])]  # 60 % of channels
    rows += [(0, c, "fan") for c in channels[:20]]  # 20 % — busy but human
    rows += [(0, c, f"v{c}") for c in channels]
    got = removed(rows, BotSettings(max_channel_share=0.3, min_channels=10, max_concurrent=1000))
    assert got == {"lurker"}


def test_min_channels_protects_small_data_sets() -> None:
    rows = [(0, c, "keen") for c in "abcd"] + [(1, c, f"v{c}") for c in "abcdefgh"]
    # 4 of 8 channels is 50 %, but far below min_channels.
    assert removed(rows, BotSettings(max_channel_share=0.1, min_channels=25)) == set()


def test_many_channels_in_one_snapshot_is_a_bot_but_spread_over_time_is_not() -> None:
    channels = [f"c{i}" for i in range(40)]
    rows = [(0, c, "multi") for c in channels[:30]]  # 30 at once
    rows += [(i, c, "roamer") for i, c in enumerate(channels[:30])]  # 30, one at a time
    rows += [(0, c, f"v{c}") for c in channels]
    settings = BotSettings(max_channel_share=1.0, min_channels=1000, max_concurrent=10)
    assert removed(rows, settings) == {"multi"}


def test_report_counts_each_user_once_and_gives_examples() -> None:
    channels = [f"c{i}" for i in range(50)]
    rows = [(0, c, "nightbot") for c in channels] + [(0, c, f"v{c}") for c in channels]
    inc = aggregate(presence(rows))
    report = detect_bots(inc, BotSettings(max_channel_share=0.5, min_channels=5))
    assert report.count == 1
    assert report.reasons == {"blocklist": 1, "channel_share": 0, "concurrency": 0}
    assert report.examples["blocklist"] == ["nightbot"]
    assert report.table.to_pylist() == [
        {"user": "nightbot", "platform": "twitch", "reason": "blocklist", "channels": 50}
    ]


def test_concurrency_needs_more_than_one_snapshot() -> None:
    channels = [f"c{i}" for i in range(40)]
    rows = [(0, c, "busy") for c in channels[:30]] + [(0, c, f"v{c}") for c in channels]
    settings = BotSettings(max_channel_share=1.0, min_channels=1000, max_concurrent=10)
    assert removed(rows, settings) == set()  # one snapshot: 30 in total, not 30 at once
