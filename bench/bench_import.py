"""Import throughput and peak memory of every importer, each in its own subprocess.

    uv run python bench/bench_import.py [--comments 1000000] [--rows 2000000] [--quick]
    uv run python bench/bench_import.py --long-lines [--line-mb 1024]

Generates, in a temporary folder: a TwitchDownloader chat JSON with ``--comments`` comments
(format 1.4, realistic comment objects of ~600 bytes, plain and gzipped), a chat-downloader
JSON with the same comments, a plain CSV of ``--rows`` presence rows and an interactions
file expanding to about ``--rows`` rows. Each import runs in a fresh Python process into a
fresh lake; the table shows input size, rows, seconds, rows/s and the child's peak RSS
(``resource.getrusage``), so "bounded memory" is a number, not a claim.

``--long-lines`` measures adversarial files instead: a CSV whose one data line is
``--line-mb`` MB, the same as JSON Lines, and JSON Lines without any newline. Each must be
refused with one line (the line cap, ``Limits.max_line_bytes``) at a peak RSS independent of
the line's length; the table gives each peak against a one-row import measured in the same
run (the process's floor).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNNER = r"""
import json, resource, sys, time
from vieweratlas.ingest import import_presence
from vieweratlas.lake import Lake
path, lake, fmt = sys.argv[1:4]
extra = {"channel": "benchchannel"} if fmt == "chat-downloader" else {}
t = time.perf_counter()
r = import_presence(Lake.open(lake), [path], fmt=fmt, **extra)
seconds = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
print(json.dumps({"rows": r.rows_in, "written": r.rows_written, "seconds": seconds, "rss": rss}))
"""

_COMMENT = (
    '{{"_id":"{cid:032x}","created_at":"2024-03-01T12:00:00Z","channel_id":"4711",'
    '"content_type":"video","content_id":"2000000000","content_offset_seconds":{off:.3f},'
    '"commenter":{{"display_name":"{user}","_id":"{uid}","name":"{user}","type":"user",'
    '"bio":null,"created_at":"2019-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z",'
    '"logo":"https://static-cdn.jtvnw.net/user-default-pictures/x-300x300.png"}},'
    '"source":"chat","state":"published","message":{{"body":"PogChamp that was a great '
    'play, let\'s go!","bits_spent":0,"fragments":[{{"text":"PogChamp","emoticon":'
    '{{"emoticon_id":"305954156","emoticon_set_id":""}}}},{{"text":" that was a great play, '
    'let\'s go!","emoticon":null}}],"is_action":false,"user_badges":[{{"_id":"subscriber",'
    '"version":"12"}}],"user_color":"#1E90FF","user_notice_params":{{}},"emoticons":[]}},'
    '"more_replies":false}}'
)


REFUSE_RUNNER = r"""
import json, resource, sys, time
from vieweratlas.errors import VieweratlasError
from vieweratlas.ingest import import_presence
from vieweratlas.lake import Lake
path, lake = sys.argv[1:3]
t = time.perf_counter()
try:
    r = import_presence(Lake.open(lake), [path])
    outcome = f"imported {r.rows_in} rows"
except VieweratlasError as exc:
    outcome = "error: " + str(exc)
seconds = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
print(json.dumps({"outcome": outcome, "seconds": seconds, "rss": rss}))
"""


def write_long_line(path: Path, head: bytes, fill: bytes, mb: int, tail: bytes) -> None:
    block = fill * (1 << 20)
    with path.open("wb") as f:
        f.write(head)
        for _ in range(mb):
            f.write(block)
        f.write(tail)


def long_lines(mb: int) -> None:
    """Peak RSS of refusing a ``mb``-MB line, against a one-row import (the floor)."""
    row = b'{"ts": "2024-01-01T00:00:00Z", "channel": "a", "user": "x"}'
    cases = [
        ("one row (floor)", "one.csv", b"ts,channel,user\n2024-01-01T00:00:00Z,a,x\n", b"", 0, b""),
        ("CSV, one line", "line.csv", b"ts,channel,user\n2024-01-01T00:00:00Z,a,", b"x", mb, b"\n"),
        ("JSON Lines, one line", "line.jsonl", row[:-2] + b', "pad": "', b"x", mb, b'"}\n'),
        ("JSON Lines, no newline", "nolf.jsonl", row, b" ", mb, b""),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        header = f"{'input':<24} {'file MB':>8} {'seconds':>8} {'peak RSS MB':>11} "
        header += f"{'x floor':>8}  outcome"
        print(header)
        print("-" * len(header))
        floor = 0.0
        for i, (label, name, head, fill, size, tail) in enumerate(cases):
            path = root / name
            write_long_line(path, head, fill, size, tail)
            proc = subprocess.run(
                [sys.executable, "-c", REFUSE_RUNNER, str(path), str(root / f"lake{i}")],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode:
                raise SystemExit(
                    f"{name}: the import crashed (exit {proc.returncode}):\n{proc.stderr}"
                )
            r = json.loads(proc.stdout.splitlines()[-1])
            floor = floor or r["rss"]
            print(
                f"{label:<24} {path.stat().st_size / 1e6:>8.0f} {r['seconds']:>8.1f} "
                f"{r['rss'] / 1e6:>11.0f} {r['rss'] / floor:>8.2f}  "
                f"{r['outcome'].replace(str(path), name)[:90]}"
            )
            path.unlink()


def _chatters(n: int, seed: int = 1) -> list[tuple[float, str, int]]:
    rng = random.Random(seed)
    length = 6 * 3600.0
    users = max(n // 20, 1)
    out = []
    for i in range(n):
        u = int(users * rng.random() ** 2)  # some users chat a lot
        out.append((length * i / n, f"viewer{u}", 10_000_000 + u))
    return out


def write_twitchdownloader(path: Path, comments: list[tuple[float, str, int]]) -> None:
    head = (
        '{"FileInfo":{"Version":{"Major":1,"Minor":4,"Patch":0},"CreatedAt":'
        '"2024-03-02T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00"},'
        '"streamer":{"name":"benchchannel","id":4711},"video":{"title":"bench","description":'
        'null,"id":"2000000000","created_at":"2024-03-01T12:00:00Z","start":0,"end":21600,'
        '"length":21600,"viewCount":1000,"game":"Chess","chapters":[]},"comments":['
    )
    gz = path.name.endswith(".gz")
    with (
        gzip.open(path, "wt", encoding="utf-8", compresslevel=6)
        if gz
        else path.open("w", encoding="utf-8")
    ) as f:
        f.write(head)
        for i, (off, user, uid) in enumerate(comments):
            if i:
                f.write(",")
            f.write(_COMMENT.format(cid=i, off=off, user=user, uid=uid))
        f.write('],"embeddedData":null}')


def write_chat_downloader(path: Path, comments: list[tuple[float, str, int]]) -> None:
    t0 = 1_709_294_400_000_000
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for i, (off, user, uid) in enumerate(comments):
            msg = {
                "message_id": f"{i:032x}",
                "message": "PogChamp that was a great play",
                "message_type": "text_message",
                "timestamp": t0 + int(off * 1e6),
                "time_in_seconds": off,
                "time_text": "0:00",
                "author": {"name": user, "display_name": user, "id": str(uid)},
            }
            f.write(("," if i else "") + json.dumps(msg))
        f.write("]")


def write_plain(path: Path, rows: int) -> None:
    rng = random.Random(2)
    with path.open("w") as f:
        f.write("ts,channel,user,messages\n")
        base = 1_709_294_400
        for i in range(rows):
            ts = base + 300 * (i // 50_000)
            f.write(f"{ts},channel{rng.randrange(2000)},user{rng.randrange(400_000)},0\n")


def write_interactions(path: Path, rows: int) -> None:
    rng = random.Random(3)
    with path.open("w") as f:
        for i in range(rows // 3):  # about 3 steps per line
            start = rng.randrange(6000)
            f.write(f"{rng.randrange(300_000)},{i},streamer{rng.randrange(3000)},")
            f.write(f"{start},{start + rng.randrange(1, 6)}\n")


def run(path: Path, fmt: str, lake: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), str(lake), fmt],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{fmt} import failed:\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    stray = [ln for ln in lines if not ln.startswith('{"rows"')]
    if stray:
        print(f"  ({fmt}: the import wrote to stdout: {stray[0][:80]!r})", file=sys.stderr)
    last = [ln for ln in lines if ln.startswith('{"rows"')][-1]
    result: dict[str, float] = json.loads(last)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--comments", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--quick", action="store_true", help="100k comments, 200k rows")
    ap.add_argument(
        "--long-lines", action="store_true", help="measure refusing one huge line instead"
    )
    ap.add_argument("--line-mb", type=int, default=1024, help="size of that line (MB)")
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="run only these inputs: td.json td.json.gz cd.json plain.csv interactions.csv",
    )
    args = ap.parse_args()
    if args.long_lines:
        long_lines(args.line_mb)
        return
    if args.quick:
        args.comments, args.rows = 100_000, 200_000
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        writers = [
            ("twitchdownloader", root / "td.json", write_twitchdownloader),
            ("twitchdownloader", root / "td.json.gz", write_twitchdownloader),
            ("chat-downloader", root / "cd.json", write_chat_downloader),
            ("plain", root / "plain.csv", None),
            ("interactions", root / "interactions.csv", None),
        ]
        if args.only:
            writers = [w for w in writers if w[1].name in args.only]
        comments = _chatters(args.comments) if any(w[2] for w in writers) else []
        for fmt, path, writer in writers:
            if writer is not None:
                writer(path, comments)
            elif fmt == "plain":
                write_plain(path, args.rows)
            else:
                write_interactions(path, args.rows)
        del comments
        cases_all = [(fmt, path) for fmt, path, _ in writers]
        print(f"generated inputs in {time.perf_counter() - t:.0f}s\n")
        header = f"{'format':<17} {'file':<19} {'MB':>7} {'rows in':>10} {'new rows':>10} "
        header += f"{'seconds':>8} {'rows/s':>10} {'input MB/s':>10} {'peak RSS MB':>11}"
        print(header)
        print("-" * len(header))
        for i, (fmt, path) in enumerate(cases_all):
            r = run(path, fmt, root / f"lake{i}")
            mb = path.stat().st_size / 1e6
            unit = args.comments if fmt in ("twitchdownloader", "chat-downloader") else r["rows"]
            print(
                f"{fmt:<17} {path.name:<19} {mb:>7.1f} {int(r['rows']):>10,} "
                f"{int(r['written']):>10,} {r['seconds']:>8.1f} {unit / r['seconds']:>10,.0f} "
                f"{mb / r['seconds']:>10.1f} {r['rss'] / 1e6:>11.0f}"
            )
        print(
            "\nrows/s counts input records: comments for chat files (rows in = presence "
            "buckets after bucketing), CSV lines expanded to presence rows otherwise."
        )


if __name__ == "__main__":
    main()
