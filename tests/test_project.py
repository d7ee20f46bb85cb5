"""Checks of the project itself: docs cover the CLI, the core stays free of adapters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer.main

from vieweratlas.cli import app

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vieweratlas"
README = (ROOT / "README.md").read_text()

# Pure stages: no files, sockets, clocks or adapters.
CORE = ["analysis", "synth.py"]
ADAPTERS = ("vieweratlas.twitch", "vieweratlas.sources", "vieweratlas.lake", "vieweratlas.render",
            "vieweratlas.cli", "vieweratlas.web", "vieweratlas.ingest", "vieweratlas.pipeline",
            "httpx", "duckdb",
            "socket", "asyncio", "boto3")  # fmt: skip
ALLOWED = {"vieweratlas.lake.schema"}  # the schemas are plain Arrow definitions


def cli_commands() -> list[str]:
    group = typer.main.get_group(app)
    out = []
    for name, cmd in group.commands.items():
        sub = getattr(cmd, "commands", None)
        if sub:
            out += [f"{name} {s}" for s in sub]
        else:
            out.append(name)
    return sorted(out)


def test_every_cli_command_is_documented_in_the_readme() -> None:
    missing = [c for c in cli_commands() if f"vieweratlas {c}" not in README]
    assert not missing, f"README does not show: {missing}"


def test_quick_start_has_exactly_two_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "vieweratlas demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].split("#")[0].strip() in ci


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_never_import_adapters() -> None:
    files = [
        p for c in CORE for p in ((SRC / c).rglob("*.py") if (SRC / c).is_dir() else [SRC / c])
    ]
    assert files
    for path in files:
        bad = sorted(
            name for name in imports_of(path)
            if name not in ALLOWED and any(name == a or name.startswith(a + ".") for a in ADAPTERS)
        )  # fmt: skip
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_collector_never_imports_analysis() -> None:
    for path in (SRC / "twitch").rglob("*.py"):
        bad = [
            n
            for n in imports_of(path)
            if n.startswith(("vieweratlas.analysis", "vieweratlas.pipeline"))
        ]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_print_in_the_library() -> None:
    for path in SRC.rglob("*.py"):
        if "cli" in path.parts:
            continue
        calls = [
            n for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]  # fmt: skip
        assert not calls, f"print() in {path.relative_to(ROOT)}"
