"""``vieweratlas similar`` and ``vieweratlas track``: a channel's audience, and communities
followed over time. The analysis stack is imported inside the commands."""

from __future__ import annotations

import functools
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vieweratlas.cli.analysis import Since, Until
from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve
from vieweratlas.cli.output import err_console, inert_table, line, note, table
from vieweratlas.lake import Lake

if TYPE_CHECKING:
    import pyarrow as pa

    from vieweratlas.pipeline.similar import SimilarResult


class Sort(StrEnum):
    shared = "shared"
    lift = "lift"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def similar(
    channels: Annotated[
        list[str], typer.Argument(help="Channel(s) to look up.", show_default=False)
    ],
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform", help="Platform of the channel(s) [default: the one that has it]."
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Rows per channel [default: analysis.similar_top]."),
    ] = None,
    sort: Annotated[
        Sort, typer.Option("--sort", help="Order by shared viewers or by lift.")
    ] = Sort.shared,
    fmt: Annotated[Format, typer.Option("--format", help="table | csv | json")] = Format.table,
    approx: Annotated[
        bool,
        typer.Option("--approx", help="Estimate from per-channel sketches (one channel)."),
    ] = False,
    sketch_size: Annotated[
        int,
        typer.Option("--sketch-size", min=16, help="Hashes kept per channel with --approx."),
    ] = 1024,
) -> None:
    """The channels sharing the most audience with CHANNEL (several: how their audiences meet)."""
    from vieweratlas.pipeline.similar import similar_channels
    from vieweratlas.pipeline.similar_approx import similar_channels_approx

    settings = resolve(lake, config, preset, **{"analysis.since": since, "analysis.until": until})
    the_lake = Lake.open(settings.lake)
    find = similar_channels
    if approx:
        find = functools.partial(similar_channels_approx, k=sketch_size)
    with err_console.status("reading the window's audience"):
        result = find(
            the_lake,
            settings,
            channels,
            platform=platform,
            top=top or settings.analysis.similar_top,
            sort=sort.value,
        )
    if fmt is Format.json:
        sys.stdout.write(json.dumps(_as_json(result), indent=2) + "\n")
    elif fmt is Format.csv:
        _write_csv(result)
    else:
        _show(result)


def _as_json(result: SimilarResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "viewers_in_window": result.users,
        "communities_from_run": result.run_id,
        "approximate": result.approximate is not None,
        "sketch_size": result.approximate,
        "channels": [
            {"platform": p, "channel": c, "viewers": v, "similar": t.to_pylist()}
            for (p, c), v, t in zip(result.channels, result.viewers, result.tables, strict=True)
        ],
    }
    if result.comparison is not None:
        data["pairs"] = result.comparison.pairs.to_pylist()
        data["subsets"] = result.comparison.subsets.to_pylist()
    return data


def _write_csv(result: SimilarResult) -> None:
    from vieweratlas.csvsafe import safe_csv_bytes

    if result.comparison is None:
        out = result.tables[0]
        if result.approximate is not None:
            import pyarrow as pa

            out = out.append_column("approximate", pa.repeat(pa.scalar(True), out.num_rows))
        sys.stdout.write(safe_csv_bytes(inert_table(out)).decode())
        return
    # several channels: the pairs, a blank line, then the subsets (two CSV blocks)
    sys.stdout.write(safe_csv_bytes(inert_table(result.comparison.pairs)).decode())
    sys.stdout.write("\n")
    sys.stdout.write(safe_csv_bytes(inert_table(result.comparison.subsets)).decode())


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _show(result: SimilarResult) -> None:
    for (p, c), viewers, similar in zip(
        result.channels, result.viewers, result.tables, strict=True
    ):
        line(f"{p}/{c}: {viewers:,} viewers of {result.users:,} in the window (bots removed)")
        if result.comparison is None:
            _show_similar(similar)
    if result.comparison is not None:
        table(
            ["a", "b", "shared", "% of a", "% of b", "lift"],
            (
                (r["a"], r["b"], r["shared"], _pct(r["share_of_a"]), _pct(r["share_of_b"]),
                 f"{r['lift']:.2f}")
                for r in result.comparison.pairs.to_pylist()
            ),
            right=["shared", "% of a", "% of b", "lift"],
        )  # fmt: skip
        table(
            ["viewers only in", "channels", "viewers", "% of all"],
            (
                (r["subset"], r["channels"], r["viewers"], _pct(r["share_of_union"]))
                for r in result.comparison.subsets.to_pylist()
            ),
            right=["channels", "viewers", "% of all"],
        )
    if result.run_id is None:
        note("(no run in the lake yet: communities unknown)")
    if result.approximate is not None:
        k = result.approximate
        note(
            f"(approximate: sketches of {k} hashes per channel; counts within about "
            f"±{200 / (k - 2) ** 0.5:.0f}% (2 standard errors), less precise for small overlaps)"
        )


def _show_similar(similar: pa.Table) -> None:
    several = len(set(similar["other_platform"].to_pylist())) > 1
    rows = []
    for i, r in enumerate(similar.to_pylist(), 1):
        name = f"{r['other_platform']}/{r['other']}" if several else r["other"]
        community = "" if r["community"] is None else f"{r['community']} {r['label'] or ''}".strip()
        rows.append(
            (i, name, r["shared"], _pct(r["share_of_channel"]), _pct(r["share_of_other"]),
             f"{r['lift']:.2f}", community)
        )  # fmt: skip
    # Names and labels come from the data: output.table prints them inert.
    table(
        ["#", "channel", "shared", "% of it", "% of other", "lift", "community"],
        rows,
        right=["#", "shared", "% of it", "% of other", "lift"],
    )


@app.command(name="track")
def track_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the tracking outputs.")] = Path(
        "atlas-track"
    ),
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Window length: 1d, 7d, 12h… [default: track.every]."),
    ] = None,
    since: Since = None,
    until: Until = None,
    render: Annotated[
        bool, typer.Option("--render", help="Also draw each window's atlas (slower).")
    ] = False,
) -> None:
    """Analyse each window, follow communities across windows (lineages, events)."""
    from vieweratlas.pipeline.track import track_communities

    settings = resolve(
        lake,
        config,
        preset,
        **{"analysis.since": since, "analysis.until": until, "track.every": every},
    )
    the_lake = Lake.open(settings.lake)
    with err_console.status("tracking") as status:
        result = track_communities(
            the_lake, settings, out, render=render, progress=lambda s: status.update(s)
        )
    table(
        ["window", "channels", "communities", "run"],
        (
            (
                r.window.label,
                r.counts.get("channels", 0),
                r.counts.get("communities", ""),
                "skipped: " + (r.skipped or "") if r.skipped else ("reused" if r.reused else "new"),
            )
            for r in result.windows
        ),
        right=["channels", "communities"],
    )
    s = result.summary
    events = ", ".join(f"{n} {e}" for e, n in s["events"].items())
    line(f"{s['lineages']} lineages; events: {events}; {s['migrations']} channel moves")
    for e in result.tracking.events.to_pylist():
        if e["event"] in ("birth", "death", "merge", "split"):
            line(f"  {e['window']}  {e['event']:<6} L{e['lineage']}  {e['detail']}")
    timing = s["timings"]["total"]
    line(f"time: {timing:.1f}s; outputs: {result.out_dir}/")
