"""How the CLI prints: results on stdout, progress and logs on stderr, data made inert.

* Results go to stdout. On a terminal, tables are Rich tables; to a pipe or file they are
  tab-separated lines with a header, never wrapped or cut, so ``| cut -f2`` works.
* Progress (percentage, ETA) and logs share the stderr console, so a log line is printed
  above the bar instead of on the spinner's line; without a terminal there is no progress.
* Every value that comes from data is passed through :mod:`vieweratlas.textsafe` and
  printed as :class:`rich.text.Text`, so neither escape sequences nor Rich markup in a
  channel name, game or title reach the terminal as anything but text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from vieweratlas.textsafe import cell_safe, terminal_safe

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


def line(text: str) -> None:
    """Print one line of results; ``text`` is treated as data (no markup, controls shown)."""
    console.print(Text(terminal_safe(text)), soft_wrap=True)


def note(text: str) -> None:
    """One line for the person at the terminal (stderr): notes, hints, what was replaced."""
    err_console.print(Text(terminal_safe(text)), soft_wrap=True)


def cell(value: object) -> str:
    """A value as one table cell: ``None`` → empty, controls, tabs, newlines escaped."""
    return "" if value is None else cell_safe(str(value))


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Sequence[str] = (),
) -> None:
    """A table of results: Rich on a terminal, tab-separated lines otherwise.

    ``right`` names the columns to right-align on a terminal (numbers); integers get
    thousands separators there, and stay plain digits in the tab-separated form.
    """
    if not console.is_terminal:
        out = console.file
        out.write("\t".join(cell(c) for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(cell(v) for v in row) + "\n")
        out.flush()
        return
    t = Table(show_edge=False, highlight=False)
    for name in columns:
        t.add_column(Text(cell(name)), justify="right" if name in right else "left")
    for row in rows:
        # Thousands separators for people; a pipe gets the plain number.
        t.add_row(*(Text(f"{v:,}" if type(v) is int else cell(v)) for v in row))
    console.print(t)


@contextlib.contextmanager
def stages(
    title: str, weights: Mapping[str, float] | None = None
) -> Iterator[Callable[[str], None]]:
    """Progress over named stages, with percentage and ETA, on a terminal (stderr).

    Yields ``enter(stage)``, called as each stage starts. ``weights`` says how much of the
    whole each known stage usually takes, so the bar moves evenly and the ETA means
    something; an unknown stage only changes the text. The bar reaches 100 % when the block
    ends, never while work remains.
    """
    weights = dict(weights or {})
    total = sum(weights.values()) or 1.0
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    done = 0.0
    current: list[str] = []
    with progress:
        task = progress.add_task(terminal_safe(title), total=total)

        def enter(stage: str) -> None:
            nonlocal done
            if current and current[0] in weights:
                done += weights[current[0]]
            current[:] = [stage]
            progress.update(
                task,
                completed=min(done, total * 0.999),
                description=terminal_safe(f"{title}: {stage}"),
            )
            progress.refresh()  # show the new stage now, not at the next tick

        yield enter
        progress.update(task, completed=total)


# Control characters that must not reach a terminal from a CSV cell (see textsafe).
_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
_CONTROL_RE = "[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]"


def inert_table(result: pa.Table) -> pa.Table:
    """String columns with control characters shown as ``\\xNN`` (as the terminal sees)."""
    columns = []
    for column in result.columns:
        text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if text and pc.any(pc.match_substring_regex(column, _CONTROL_RE)).as_py():
            for ch in _CONTROLS:
                column = pc.replace_substring(column, ch, f"\\x{ord(ch):02x}")
        columns.append(column)
    return pa.table(columns, names=result.column_names)
