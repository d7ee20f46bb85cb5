"""``vieweratlas demo``, ``synth`` and ``analyze``.

The analysis stack (igraph, SciPy, matplotlib) is imported inside the commands, so that
every other command — the collector above all — starts fast. Every check that can fail
(where the outputs go, whether the lake and the window hold data) runs before the analysis.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer

from vieweratlas.cli import checks
from vieweratlas.cli.app import app
from vieweratlas.cli.common import ConfigOpt, LakeOpt, PresetOpt, resolve
from vieweratlas.cli.output import line, note, stages, table
from vieweratlas.config import Settings
from vieweratlas.errors import ConfigError
from vieweratlas.lake import Lake
from vieweratlas.metrics import COMMUNITIES_FOUND, JobRun

if TYPE_CHECKING:
    from vieweratlas.pipeline import RunResult

Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Start of the window, included: ISO-8601 time or date, or epoch seconds. "
        "A bare date is midnight UTC.",
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End of the window, excluded: snapshots before this time. A bare date is "
        "midnight UTC, so --until 2026-11-02 includes all of 1 November.",
    ),
]
SeedOpt = Annotated[int, typer.Option(min=0, help="Random seed (0 or more).")]

# Share of an analysis each stage usually takes (the 500-channel demo), for the progress
# bar's percentage and ETA; stages not listed only change the bar's text.
ANALYSIS_STAGES = {
    "read": 5.0, "aggregate": 7.0, "bots": 0.5, "overlap": 1.0, "communities": 2.5,
    "layout": 20.0, "outputs": 1.0, "render": 64.0, "copy_to_lake": 1.0,
}  # fmt: skip
DRAWING = ("layout", "render")


PlatformsWorldOpt = Annotated[
    str,
    typer.Option("--platforms", help="Platforms of the generated world, e.g. twitch,kick,youtube."),
]
CreatorsOpt = Annotated[
    float,
    typer.Option(
        "--creators", min=0.0, max=1.0,
        help="Share of channels that also stream on a second platform (multi-platform only).",
    ),
]  # fmt: skip


def _platform_list(value: str) -> tuple[str, ...]:
    from vieweratlas.platforms import PLATFORMS

    names = tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown or not names:
        raise ConfigError(f"--platforms: unknown platform(s) {unknown} (known: "
                          f"{', '.join(PLATFORMS)})")  # fmt: skip
    return names


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
    seed: SeedOpt = 0,
    platforms: PlatformsWorldOpt = "twitch",
    creators: CreatorsOpt = 0.2,
) -> None:
    """Write a Twitch-like synthetic data set (and its planted truth) into the lake.

    With --platforms twitch,kick,youtube the world is spread over those platforms, and a
    --creators share of channels stream on two of them (written as the creator map).
    """
    from vieweratlas.pipeline import write_synthetic
    from vieweratlas.synth import SynthSpec, generate, spread_platforms

    settings = resolve(lake, config, preset)
    the_lake = Lake.open(settings.lake)
    checks.writable_lake(the_lake)
    spec = SynthSpec(
        channels=channels,
        viewers=viewers,
        communities=communities,
        mixing=mixing,
        lurker_bots=lurker_bots,
        seed=seed,
    )
    chosen = _platform_list(platforms)
    with stages("synth", {"generating": 1.0, "writing to the lake": 2.0}) as enter:
        enter("generating")
        data = spread_platforms(generate(spec), chosen, creators, seed)
        enter("writing to the lake")
        counts = write_synthetic(the_lake, data)
    line(
        f"wrote {counts['presence_rows']:,} new presence rows and {counts['channel_rows']:,} "
        f"channel rows to {settings.lake} (truth in synthetic/truth.csv)"
    )


@app.command(name="analyze")
def analyze_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the run outputs (outside the lake).")
    ] = Path("atlas-out"),
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    since: Since = None,
    until: Until = None,
    algorithm: Annotated[str | None, typer.Option("--algorithm", help="leiden | louvain")] = None,
    resolution: Annotated[float | None, typer.Option(help="Modularity resolution.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Random seed (0 or more).")] = None,
    overlap_threshold: Annotated[
        int | None,
        typer.Option(
            help="Minimum shared viewers per edge (the edge budget may raise it: the threshold "
            "used is printed beside it)."
        ),
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
    lake_copy: Annotated[
        str | None,
        typer.Option(
            "--lake-copy",
            help="What the lake's copy of the run keeps: map (tables + atlas.html, default) | "
            "tables | all. --out always gets every file.",
        ),
    ] = None,
) -> None:
    """Build the overlap graph, find and label communities, write the run outputs."""
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
            "analysis.lake_copy": lake_copy,
        },
    )
    the_lake = checks.existing_lake(settings)
    checks.out_dir(out, the_lake)
    window = checks.analysis_window(the_lake, settings)
    _run(the_lake, settings, out, window, render=not no_render)


@app.command()
def demo(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for the demo; a previous demo there is replaced, never mixed."
        ),
    ] = checks.DEMO_OUT,
    seed: SeedOpt = 0,
    platforms: PlatformsWorldOpt = "twitch",
) -> None:
    """The whole pipeline on a generated Twitch-like data set, no credentials needed.

    --platforms twitch,kick,youtube generates a multi-platform world in which a fifth of
    the channels stream on two platforms; the map shows their merged creator nodes.
    """
    from vieweratlas.pipeline import write_synthetic
    from vieweratlas.synth import SynthSpec, generate, spread_platforms

    if checks.demo_folder(out):
        note(f"replaced the previous demo in {out}")
    lake_dir = out / "lake"
    settings = resolve(str(lake_dir), None, None, **{"analysis.seed": seed})
    the_lake = Lake.open(settings.lake)
    checks.writable_lake(the_lake)
    chosen = _platform_list(platforms)
    with stages("demo", {"generating": 1.0, "writing to the lake": 2.0}) as enter:
        enter("generating")
        data = spread_platforms(generate(SynthSpec(seed=seed)), chosen, 0.2, seed)
        enter("writing to the lake")
        write_synthetic(the_lake, data)
    window = checks.analysis_window(the_lake, settings)
    _run(the_lake, settings, out, window)
    line(f'\nlake: {lake_dir}   try: vieweratlas sql --lake {lake_dir} "SELECT ..."')


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
    found = list_runs(checks.existing_lake(settings))
    if not found:
        line(f"no runs in {settings.lake}")
        return
    table(
        ["run", "window start", "window end", "channels", "communities", "created"],
        (
            (
                info.run_id,
                info.window_start,
                info.window_end,
                info.counts.get("channels", 0),
                info.counts.get("communities", 0),
                info.created_at,
            )
            for info in found
        ),
        right=["channels", "communities"],
    )


def _run(
    lake: Lake, settings: Settings, out: Path, window: checks.Window, *, render: bool = True
) -> None:
    from vieweratlas.pipeline import analyze, planted_nmi

    weights = {k: v for k, v in ANALYSIS_STAGES.items() if render or k not in DRAWING}
    with stages("analyze", weights) as enter, JobRun("analysis") as job:
        result = analyze(lake, settings, out, progress=enter, render=render)
        job.count(COMMUNITIES_FOUND, result.summary["counts"]["communities"])
    show_run(result, planted_nmi(lake, result.nodes), window)


def _lookup(summary: dict[str, Any], *paths: str) -> Any:
    """The first of the dotted ``paths`` present in ``summary`` (its layout may grow)."""
    for path in paths:
        node: Any = summary
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return node
    return None


def window_line(summary: dict[str, Any], window: checks.Window) -> str:
    """The window as asked, ``[since, until)``, and the snapshots actually analysed."""
    text = f"window {window.describe()}"
    if window.since is not None or window.until is not None:
        text += " (until excluded; a bare date is midnight UTC)"
    first = _lookup(summary, "window.since", "window.start", "window_start")
    last = _lookup(summary, "window.until", "window.end", "window_end")
    if first and last:
        lo, hi = (checks.fmt_time(datetime.fromisoformat(str(v))) for v in (first, last))
        text += f"; snapshots analysed {lo} … {hi}"
    return text


def threshold_line(summary: dict[str, Any]) -> str | None:
    """The overlap threshold asked and the one the edges were built with, side by side."""
    asked = _lookup(summary, "parameters.overlap_threshold")
    used = _lookup(
        summary, "overlap_threshold_used", "counts.overlap_threshold_used", "threshold_used"
    )
    if asked is None and used is None:
        return None
    text = f"overlap threshold: asked {asked}, used {used}"
    budget = _lookup(summary, "parameters.max_edges_per_channel")
    if used is not None and asked is not None and used != asked:
        text += (
            f" (raised to keep at most {budget} edges per channel: "
            "analysis.max_edges_per_channel; 0 turns the budget off)"
            if budget
            else " (see summary.json)"
        )
    return text


def _top_level(communities: pa.Table) -> pa.Table:
    """The top level of the hierarchy (rows without a parent)."""
    if "parent" not in communities.column_names:
        return communities
    return communities.filter(pc.is_null(communities["parent"]))


def show_run(result: RunResult, nmi: float | None, window: checks.Window) -> None:
    """The run's summary, printed once: counts, window, threshold, bots, communities, time."""
    s: dict[str, Any] = result.summary
    counts = s["counts"]
    line(
        f"{counts['channels']:,} channels, {counts['edges']:,} edges, "
        f"{counts['communities']} communities, {counts['viewers']:,} viewers, "
        f"{counts['presence_rows']:,} presence rows; modularity {s['modularity']:.3f}"
        + (f"; NMI vs planted truth {nmi:.3f}" if nmi is not None else "")
    )
    line(window_line(s, window))
    if (threshold := threshold_line(s)) is not None:
        line(threshold)
    bots = s.get("bots", {})
    line(f"bot accounts removed: {bots.get('removed', 0):,}")
    by_reason = bots.get("by_reason") or {}
    if by_reason:
        table(["reason", "accounts"], sorted(by_reason.items()), right=["accounts"])
    unplaced = sum(r.get("channels", 0) for r in (s.get("unplaced") or {}).values())
    line(
        f"{counts.get('subcommunities', 0)} sub-communities; {counts.get('bridges', 0):,} "
        f"bridges; placed by their viewers {counts.get('channels_attached', 0):,}; "
        f"unplaced {unplaced:,}" + (" (reasons in unplaced.csv)" if unplaced else "")
    )
    if "drawn" in s:
        line(str(s["drawn"]["note"]))
    table(
        ["community", "label", "channels", "viewers", "top channels"],
        (
            (
                row["community"],
                row["label"],
                row["size"],
                "n/a" if row["viewers"] is None else row["viewers"],
                ", ".join(str(row["top_channels"] or "").split(", ")[:3]),
            )
            for row in _top_level(result.communities).slice(0, 15).to_pylist()
        ),
        right=["community", "channels", "viewers"],
    )
    timing = "  ".join(f"{k} {v:.2f}s" for k, v in s["timings"].items())
    line(f"time: {timing}")
    line(f"outputs: {result.out_dir}/ (run {result.run_id})")
