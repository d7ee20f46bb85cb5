"""Checks of the project itself: docs cover the CLI, the core stays free of adapters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import typer.main

from vieweratlas.cli import app

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vieweratlas"
README = (ROOT / "README.md").read_text()

# Pure stages: no files, sockets, clocks or adapters.
CORE = ["analysis", "synth.py", "platforms.py", "pipeline/communities.py", "pipeline/structure.py"]
ADAPTERS = ("vieweratlas.twitch", "vieweratlas.sources", "vieweratlas.lake", "vieweratlas.render",
            "vieweratlas.cli", "vieweratlas.web", "vieweratlas.ingest", "vieweratlas.pipeline",
            "httpx", "duckdb",
            "socket", "asyncio", "boto3")  # fmt: skip
ALLOWED = {
    "vieweratlas.lake.schema",
    "vieweratlas.pipeline.structure",
    "vieweratlas.pipeline.communities",
}  # plain Arrow definitions; pure modules checked as core themselves


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


def test_sources_never_import_analysis() -> None:
    files = [*(SRC / "sources").rglob("*.py"), *(SRC / "twitch").rglob("*.py")]
    assert len(files) > 10
    for path in files:
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


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else []:
            if isinstance(sub, ast.Import):
                names |= {a.name for a in sub.names}
            elif isinstance(sub, ast.ImportFrom) and sub.module:
                names.add(sub.module)
                names |= {f"{sub.module}.{a.name}" for a in sub.names}
    return names


def test_no_import_cycles_in_src() -> None:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph = {
        name: sorted(m for m in top_level_imports(path) if m in modules and m != name)
        for name, path in modules.items()
    }
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    for name in graph:
        graph[name] = [m for m in graph[name] if not name.startswith(m + ".")]
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


PROBE = """
import importlib, json, logging, os, random, signal, sys, warnings
# Third-party libraries may set their own warning filters when first imported: import them
# first, so only ViewerAtlas's own import-time effects are measured.
for dep in ("numpy", "matplotlib", "scipy.sparse", "scipy.stats", "pyarrow.compute",
            "pyarrow.dataset", "pyarrow.parquet", "pyarrow.csv", "duckdb", "igraph", "httpx",
            "pydantic", "pydantic_settings", "yaml", "rich", "boto3"):
    try:
        importlib.import_module(dep)
    except ImportError:
        pass
import numpy as np
def snap():
    mask = os.umask(0o22); os.umask(mask)
    mpl = sys.modules.get("matplotlib")
    return {
        "umask": mask,
        "random": hash(str(random.getstate())),
        "numpy": hash(str(np.random.get_state()[1][:8].tolist())),
        "sigint": str(signal.getsignal(signal.SIGINT)),
        "sigterm": str(signal.getsignal(signal.SIGTERM)),
        "root_handlers": len(logging.getLogger().handlers),
        "root_level": logging.getLogger().level,
        "backend": mpl.rcParams._get_backend_or_none() if mpl else None,
        "filters": len(warnings.filters),
        "cwd": os.getcwd(),
    }
from vieweratlas.lake.schema import TABLES
tables = sorted(TABLES)
problems = []
for name in sys.argv[1:]:
    before = snap()
    importlib.import_module(name)
    after = snap()
    changed = sorted(k for k in before if before[k] != after[k])
    if changed:
        problems.append(f"importing {name} changed {changed}")
    if sorted(TABLES) != tables:
        problems.append(f"importing {name} changed the lake's tables")
        tables = sorted(TABLES)
print(json.dumps(problems))
"""


def test_importing_a_module_changes_no_process_state() -> None:
    """Every module, imported in a fresh interpreter, leaves umask, RNGs, signal handlers,
    logging, the matplotlib backend, warning filters and the lake's tables as they were."""
    import json
    import subprocess
    import sys

    modules = sorted(
        module_name(p)
        for p in SRC.rglob("*.py")
        if "cli" not in p.parts and p.name != "__main__.py"
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1:]
    assert json.loads(out.stdout) == []


def test_the_repo_explains_itself_without_outside_references() -> None:
    """No file points at documents outside the repo or at issue numbers."""
    pattern = re.compile(r"\bDESIGN\.md|\bDESIGN §|\.\./shared|\bissues? #?\d+\b", re.I)
    roots = ["src", "tests", "bench", "docs", "deploy", "scripts", "config", ".ci"]
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "pyproject.toml"]
    files += [p for r in roots for p in (ROOT / r).rglob("*") if p.is_file()]
    offenders = []
    for path in files:
        if path.suffix in {".png", ".jpg", ".svg", ".pdf", ".parquet", ".pyc"} or path == Path(
            __file__
        ):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not offenders, offenders


def cli_options() -> dict[str, list[str]]:
    """Every long option of every command (``--help`` and the common ones aside)."""

    group = typer.main.get_group(app)
    out: dict[str, list[str]] = {}

    def walk(prefix: str, cmd: click.Command) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(f"{prefix} {name}".strip(), child)
            return
        out[prefix] = [
            opt
            for param in cmd.params
            for opt in getattr(param, "opts", [])
            if opt.startswith("--") and opt not in ("--help", "--lake", "--config", "--preset")
        ]

    walk("", group)
    return out


def test_every_cli_option_is_documented_in_the_readme() -> None:
    missing = [
        f"{cmd} {opt}" for cmd, opts in cli_options().items() for opt in opts if opt not in README
    ]
    assert not missing, f"README does not mention: {missing}"


def test_every_import_format_and_lake_table_is_documented() -> None:
    from vieweratlas.ingest.importer import FORMATS
    from vieweratlas.lake.schema import TABLES

    assert not [f for f in FORMATS if f"`{f}`" not in README], "import formats missing"
    assert not [t for t in TABLES if f"`{t}`" not in README], "lake tables missing"
    assert not [s.path for s in TABLES.values() if s.path not in README], "table paths missing"
