"""GitHub workflows: schema-valid, CI runs .ci/run, the deploy uses OIDC (no stored keys),
builds and pushes the image, and calls deploy.sh with options it really has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploytools import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(exe), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_workflows_are_schema_valid_and_time_limited() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"ci.yml", "deploy.yml"}
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        proc = _check_jsonschema(schema, *files)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert _check_jsonschema("vendor.github-workflows", bad).returncode != 0


def test_ci_runs_the_ci_script() -> None:
    ci = _load("ci.yml")
    assert "workflow_call" in ci["on"]
    steps = ci["jobs"]["test"]["steps"]
    assert any(s.get("run") == "bash .ci/run" and s["env"]["CI"] == "true" for s in steps)
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_uses_oidc_and_no_stored_keys() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text  # no AWS keys (or anything else) stored in GitHub
    assert "AWS_ACCESS_KEY_ID" not in text
    deploy = _load("deploy.yml")
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "test"
    assert deploy["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    assert job["permissions"]["id-token"] == "write"
    assert job["environment"] == "production"  # matches the OIDC trust (github-oidc.yaml)
    uses = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    creds = uses["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in creds
    build = uses["docker/build-push-action"]["with"]
    assert build["push"] is True
    assert "${{ github.sha }}" in build["tags"]


def test_deploy_calls_deploy_sh_with_real_options() -> None:
    job = _load("deploy.yml")["jobs"]["deploy"]
    (run,) = [s["run"] for s in job["steps"] if "deploy/aws/deploy.sh" in s.get("run", "")]
    script = (ROOT / "deploy" / "aws" / "deploy.sh").read_text()
    known = set(re.findall(r"^\s+(--[a-z-]+)(?:\|-\w)?\)", script, flags=re.M))
    used = set(re.findall(r"(--[a-z-]+)", run))
    assert used <= known, used - known
    assert "--yes" in used and "--image-tag" in used and "--cfn-role" in used


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_actions_are_pinned_to_a_version(name: str) -> None:
    for job in _load(name)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.search(r"@v\d+$", step["uses"]), step["uses"]
