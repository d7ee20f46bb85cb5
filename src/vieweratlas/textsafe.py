"""Untrusted text made inert for a terminal.

Channel names, games, stream titles, chat text and file names come from anyone. Printed
raw, an ESC or C1 byte starts a control sequence (clear the screen, set the window title,
hide an OSC 8 hyperlink), BEL rings, CR overwrites the line. :func:`terminal_safe` replaces
every C0 control except tab and newline, DEL and every C1 control with a visible ``\\xNN``
escape, so the text reads the same and the terminal sees nothing it acts on. Rich markup in
data is a separate problem: the CLI prints data as :class:`rich.text.Text` (never parsed as
markup) or as plain lines.
"""

from __future__ import annotations

import re

# C0 except \t and \n, DEL, C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Inside one table cell or TSV field, tab and newline would also break the layout.
_CELL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _visible(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def terminal_safe(text: str) -> str:
    """``text`` with control characters (all but tab and newline) shown as ``\\xNN``."""
    return _CONTROL.sub(_visible, text)


def cell_safe(text: str) -> str:
    """Like :func:`terminal_safe`, and tab/newline escaped too: one cell, one line."""
    return _CELL_CONTROL.sub(_visible, text)
