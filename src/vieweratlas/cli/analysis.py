"""``vieweratlas demo``, ``synth`` and ``analyze``.

The analysis stack (igraph, SciPy, matplotlib) is imported inside the commands, so that
every other command — the collector above all — starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, console, resolve
from vieweratlas.lake import Lake
from vieweratlas.metrics import COMMUNITIES_FOUND, JobRun

if TYPE_CHECKING:
    from vieweratlas.pipeline import RunResult

Since = Annotated[
    str | None, typer.Option("--since", help="First snapshot included (ISO-8601 or epoch).")
]
Until = Annotated[
    str | None, typer.Option("--until", help="Snapshots before this time (ISO-8601 or epoch).")
]


@app.command()
def synth(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    channels: Annotated[int, typer.Option(min=6, help="Channels.")] = 500,
    viewers: Annotated[int, typer.Option(min=1, help="Human viewers.")] = 50_000,
    communities: Annotated[int, typer.Option(min=1, help="Planted communities.")] = 8,
    mixing: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of visits outside home community.")
    ] = 0.15,
    lurker_bots: Annotated[int, typer.Option(min=0, help="Lurker bots (not on blocklists).")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a Twitch-like synthetic data set (and its planted truth) into the lake."""
    from vieweratlas.pipeline import write_synthetic
    from vieweratlas.synth import SynthSpec, generate

    settings = resolve(lake, config, preset)
    spec = SynthSpec(
        channels=channels,
        viewers=viewers,
        communities=communities,
        mixing=mixing,
        lurker_bots=lurker_bots,
        seed=seed,
    )
    with console.status("generating"):
        data = generate(spec)
    with console.status(f"writing {data.presence.num_rows:,} presence rows"):
        counts = write_synthetic(Lake.open(settings.lake), data)
    console.print(
        f"wrote {counts['presence_rows']:,} new presence rows and {counts['channel_rows']:,} "
        f"channel rows to {settings.lake} (truth in synthetic/truth.csv)"
    )


@app.command(name="analyze")
def analyze_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the run outputs.")] = Path(
        "atlas-out"
    ),
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    since: Since = None,
    until: Until = None,
    algorithm: Annotated[str | None, typer.Option("--algorithm", help="leiden | louvain")] = None,
    resolution: Annotated[float | None, typer.Option(help="Modularity resolution.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    overlap_threshold: Annotated[
        int | None, typer.Option(help="Minimum shared viewers per edge.")
    ] = None,
    min_community_size: Annotated[int | None, typer.Option(help="Smallest community.")] = None,
    platforms: Annotated[
        str | None,
        typer.Option(
            "--platforms", help="Comma-separated platforms analysed together (default: all)."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="Graph engine: local | spark.")
    ] = None,
    no_render: Annotated[
        bool, typer.Option("--no-render", help="Tables and summary only: no layout, no maps.")
    ] = False,
) -> None:
    """Build the overlap graph, find and label communities, write the run outputs."""
    from vieweratlas.pipeline import analyze, planted_nmi

    settings = resolve(
        lake,
        config,
        preset,
        **{
            "analysis.since": since,
            "analysis.until": until,
            "analysis.algorithm": algorithm,
            "analysis.resolution": resolution,
            "analysis.seed": seed,
            "analysis.overlap_threshold": overlap_threshold,
            "analysis.min_community_size": min_community_size,
            "analysis.platforms": _split(platforms),
            "analysis.engine": engine,
        },
    )
    the_lake = Lake.open(settings.lake)
    with console.status("analyzing") as status, JobRun("analysis") as run:
        result = analyze(
            the_lake,
            settings,
            out,
            progress=lambda s: status.update(s),
            render=not no_render,
        )
        run.count(COMMUNITIES_FOUND, result.summary["counts"]["communities"])
    show_run(result, planted_nmi(the_lake, result.nodes))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo.")] = Path("atlas-demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the generated data.")] = 0,
) -> None:
    """The whole pipeline on a generated Twitch-like data set, no credentials needed."""
    from vieweratlas.pipeline import analyze, planted_nmi, write_synthetic
    from vieweratlas.synth import SynthSpec, generate

    lake_dir = out / "lake"
    settings = resolve(str(lake_dir), None, None, **{"analysis.seed": seed})
    the_lake = Lake.open(settings.lake)
    with console.status("generating a Twitch-like data set") as status:
        data = generate(SynthSpec(seed=seed))
        status.update(f"writing {data.presence.num_rows:,} presence rows to {lake_dir}")
        write_synthetic(the_lake, data)
        result = analyze(the_lake, settings, out, progress=lambda s: status.update(s))
    show_run(result, planted_nmi(the_lake, result.nodes))
    console.print(f'\nlake: {lake_dir}   try: vieweratlas sql --lake {lake_dir} "SELECT ..."')


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@app.command()
def runs(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
) -> None:
    """The runs stored in the lake: id, data window, counts, created (newest first)."""
    from vieweratlas.runs import list_runs

    settings = resolve(lake, config, preset)
    found = list_runs(Lake.open(settings.lake))
    if not found:
        console.print(f"no runs in {settings.lake}", markup=False)
        return
    table = Table("run", "window start", "window end", "channels", "communities", "created",
                  show_edge=False)  # fmt: skip
    for info in found:
        table.add_row(
            info.run_id,
            info.window_start,
            info.window_end,
            f"{info.counts.get('channels', 0):,}",
            f"{info.counts.get('communities', 0):,}",
            info.created_at,
        )
    console.print(table, markup=False)


def show_run(result: RunResult, nmi: float | None) -> None:
    import pyarrow.compute as pc

    s: dict[str, Any] = result.summary
    counts = s["counts"]
    console.print(
        f"[bold]{counts['channels']:,}[/] channels, [bold]{counts['edges']:,}[/] edges, "
        f"[bold]{counts['communities']}[/] communities, {counts['viewers']:,} viewers, "
        f"{counts['presence_rows']:,} presence rows; modularity {s['modularity']:.3f}"
        + (f"; NMI vs planted truth {nmi:.3f}" if nmi is not None else "")
    )
    console.print(
        f"window {s['window']['since']} → {s['window']['until']}; "
        f"{s['bots']['removed']} bot accounts removed {s['bots']['by_reason']}"
    )
    unplaced = sum(r["channels"] for r in s.get("unplaced", {}).values())
    console.print(
        f"{counts.get('subcommunities', 0)} sub-communities, {counts.get('bridges', 0):,} "
        f"bridge channels, {counts.get('channels_attached', 0):,} placed by their viewers, "
        f"{unplaced:,} unplaced" + (" (reasons in unplaced.csv)" if unplaced else ""),
        markup=False,
    )
    if "drawn" in s:
        console.print(s["drawn"]["note"], markup=False)
    table = Table("community", "label", "channels", "viewers", "top channels", show_edge=False)
    top = result.communities
    if "level" in top.column_names:
        top = top.filter(pc.equal(top["level"], 1))
    for row in top.slice(0, 15).to_pylist():
        table.add_row(
            str(row["community"]),
            row["label"],
            str(row["size"]),
            "n/a" if row["viewers"] is None else f"{row['viewers']:,}",
            ", ".join(row["top_channels"].split(", ")[:3]),
        )
    console.print(table, markup=False)
    timing = "  ".join(f"{k} {v:.2f}s" for k, v in s["timings"].items())
    console.print(f"time: {timing}", markup=False)
    console.print(f"outputs: {result.out_dir}/ (run {result.run_id})", markup=False)
