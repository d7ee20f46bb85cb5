"""deploy/aws/deploy.sh: the cost estimate, the budget guard, the dry run, and the change-set
flow with confirmation (against a stand-in ``aws`` program that records its calls)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deploytools import ROOT

from testkit import require_program

SCRIPT = ROOT / "deploy" / "aws" / "deploy.sh"
GOOD = ["--email", "ops@example.com", "--vpc", "vpc-0abc", "--subnets", "subnet-01,subnet-02"]

FAKE_AWS = r"""#!/usr/bin/env bash
# Stand-in for the AWS CLI: records each call, answers like a fresh account.
echo "$*" >> "$AWS_LOG"
case "$*" in
  *"sts get-caller-identity"*) echo 123456789012 ;;
  *"cloudformation describe-stacks"*"--query"*) echo vieweratlas-monthly ;;
  *"cloudformation describe-stacks"*) exit 255 ;;  # no stack yet: CREATE
  *"describe-change-set"*) echo "| Add | LakeBucket | AWS::S3::Bucket |" ;;
  *) : ;;
esac
"""


def run(
    args: list[str], *, env: dict[str, str] | None = None, stdin: str = "", script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    bash = require_program("bash")
    return subprocess.run(
        [bash, str(script), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={"PATH": os.environ["PATH"], **(env or {})},
        timeout=60,
        check=False,
    )


def total(out: str) -> float:
    (line,) = [ln for ln in out.splitlines() if "TOTAL" in ln]
    return float(line.split()[-1])


def items(out: str) -> list[float]:
    lines = out.strip().splitlines()[1:-1]  # between the header and TOTAL
    return [float(ln.split()[-1]) for ln in lines]


def test_estimate_for_channel_counts() -> None:
    totals = {}
    for channels in (1, 100, 1000, 5000):
        proc = run(["--estimate-only", "--channels", str(channels)])
        assert proc.returncode == 0, proc.stderr
        totals[channels] = total(proc.stdout)
        assert sum(items(proc.stdout)) == pytest.approx(totals[channels], abs=0.06)
    assert totals[1] < totals[100] < totals[1000] < totals[5000]
    # The original ran 100 channels for $5-8; ours adds public IPv4 charges (~$3.7).
    assert 5 <= totals[100] <= 15
    assert totals[5000] < 50  # the default budget covers the largest supported setup


def test_estimate_with_the_spark_job() -> None:
    """The Spark job replaces the ECS analysis in the estimate; off, the table is as before."""
    off = run(["--estimate-only", "--channels", "1000"]).stdout
    on = run(["--estimate-only", "--channels", "1000", "--spark-engine", "emr-serverless"])
    assert on.returncode == 0, on.stderr
    assert "EMR Serverless" not in off and "EMR Serverless" in on.stdout
    assert sum(items(on.stdout)) == pytest.approx(total(on.stdout), abs=0.06)
    spark = next(ln for ln in on.stdout.splitlines() if ln.startswith("spark"))
    assert 5 < float(spark.split()[-1]) < 20
    assert total(off) < total(on.stdout) < total(off) + 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spark-engine", "glue"], "--spark-engine"),
        (["--channels", "0"], "--channels"),
        (["--channels", "abc"], "--channels"),
        (["--channels", "5001"], "--channels"),
        (["--stack", "Bad_Name"], "--stack"),
        (["--bogus"], "unknown option"),
    ],
)
def test_bad_input(args: list[str], message: str) -> None:
    proc = run([*GOOD, "--dry-run", *args])
    assert proc.returncode == 2
    assert message in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vpc", "vpc-0abc", "--subnets", "subnet-01"], "--email is required"),
        ([*GOOD, "--budget", "0"], "above 0"),
        ([*GOOD, "--budget", "5"], "above the budget"),
    ],
)
def test_refuses_without_a_budget_alarm(args: list[str], message: str) -> None:
    proc = run([*args, "--dry-run", "--image-tag", "abc"])
    assert proc.returncode == 3
    assert "REFUSED" in proc.stderr and message in proc.stderr


def test_refuses_a_template_without_budget(tmp_path: Path) -> None:
    copy = tmp_path / "deploy.sh"
    shutil.copy(SCRIPT, copy)
    template = (ROOT / "deploy" / "aws" / "template.yaml").read_text()
    (tmp_path / "template.yaml").write_text(
        template.replace(
            "Type: AWS::Budgets::Budget", "Type: AWS::CloudFormation::WaitConditionHandle"
        )
    )
    proc = run([*GOOD, "--dry-run", "--image-tag", "abc"], script=copy)
    assert proc.returncode == 3
    assert "no AWS::Budgets::Budget" in proc.stderr


@pytest.fixture
def fake_aws(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    log = tmp_path / "aws.log"
    log.touch()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_LOG": str(log)}
    return env, log


def test_dry_run_never_calls_aws(fake_aws: tuple[dict[str, str], Path]) -> None:
    env, log = fake_aws
    proc = run([*GOOD, "--dry-run", "--image-tag", "abc123", "--channels", "250"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Estimated monthly cost" in proc.stdout
    assert "create-change-set" in proc.stdout
    assert "ParameterKey=ChannelCount,ParameterValue=250" in proc.stdout
    assert "ParameterKey=SubnetIds,ParameterValue=subnet-01\\,subnet-02" in proc.stdout
    assert "ParameterKey=SparkEngine,ParameterValue=none" in proc.stdout
    assert log.read_text() == ""


def test_change_set_declined_deploys_nothing(fake_aws: tuple[dict[str, str], Path]) -> None:
    env, log = fake_aws
    proc = run([*GOOD, "--image-tag", "abc123"], env=env, stdin="n\n")
    assert proc.returncode == 1
    assert "Cancelled; nothing deployed." in proc.stdout
    assert "LakeBucket" in proc.stdout  # the change set was shown
    calls = log.read_text()
    assert "create-change-set" in calls and "--change-set-type CREATE" in calls
    assert "delete-change-set" in calls
    assert "execute-change-set" not in calls


def test_change_set_confirmed_is_executed_and_budget_checked(
    fake_aws: tuple[dict[str, str], Path],
) -> None:
    env, log = fake_aws
    proc = run([*GOOD, "--image-tag", "abc123"], env=env, stdin="y\n")
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    order = [c.split()[3] for c in calls if c.startswith("--region us-east-1 cloudformation")]
    assert order.index("create-change-set") < order.index("describe-change-set")
    assert order.index("describe-change-set") < order.index("execute-change-set")
    assert any("budgets describe-budget" in c and "vieweratlas-monthly" in c for c in calls)
    assert any("--capabilities CAPABILITY_IAM" in c for c in calls)


def test_cfn_service_role_is_passed(fake_aws: tuple[dict[str, str], Path]) -> None:
    env, log = fake_aws
    role = "arn:aws:iam::123456789012:role/vieweratlas-cfn"
    proc = run([*GOOD, "--image-tag", "abc123", "--cfn-role", role, "--yes"], env=env)
    assert proc.returncode == 0, proc.stderr
    (create,) = [c for c in log.read_text().splitlines() if "create-change-set" in c]
    assert f"--role-arn {role}" in create
    bad = run([*GOOD, "--image-tag", "abc123", "--cfn-role", "nope", "--dry-run"], env=env)
    assert bad.returncode == 2


def test_no_stdin_means_no(fake_aws: tuple[dict[str, str], Path]) -> None:
    """CI has no terminal: without --yes the script must not deploy."""
    env, log = fake_aws
    proc = run([*GOOD, "--image-tag", "abc123"], env=env, stdin="")
    assert proc.returncode == 1
    assert "execute-change-set" not in log.read_text()


def test_shellcheck_clean() -> None:
    shellcheck = require_program("shellcheck")
    proc = subprocess.run(
        [shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout


def test_estimate_with_the_dashboard() -> None:
    """The dashboard adds its task (and its IPv4 address and secret); with a certificate a
    load balancer line too; the budget check uses the same total."""
    cidr = ["--dashboard-cidr", "203.0.113.7/32"]
    cert = ["--dashboard-certificate", "arn:aws:acm:us-east-1:123456789012:certificate/ab-12"]
    base = run(["--estimate-only", "--channels", "100"]).stdout
    direct = run(["--estimate-only", "--channels", "100", *cidr]).stdout
    alb = run(["--estimate-only", "--channels", "100", *cidr, *cert]).stdout
    assert "dashboard" not in base
    for out in (base, direct, alb):
        assert total(out) == pytest.approx(sum(items(out)), abs=0.02)
    task = 730 * (0.25 * 0.04048 + 1 * 0.004445) * 0.30
    assert total(direct) - total(base) == pytest.approx(task + 730 * 0.005 + 0.40, abs=0.02)
    (line,) = [ln for ln in alb.splitlines() if "load balancer" in ln]
    assert float(line.split()[-1]) == pytest.approx(730 * (0.0225 + 0.0008) + 2 * 3.65, abs=0.02)
    assert total(alb) - total(direct) == pytest.approx(float(line.split()[-1]), abs=0.02)
    # a certificate needs the network, two subnets and an ACM ARN
    assert run(["--estimate-only", *cert]).returncode == 2
    assert run(["--estimate-only", *cidr, "--dashboard-certificate", "nope"]).returncode == 2
    assert run(["--estimate-only", "--dashboard-cidr", "0.0.0.0/0"]).returncode == 2
    one_subnet = [a if a != "subnet-01,subnet-02" else "subnet-01" for a in GOOD]
    proc = run([*one_subnet, *cidr, *cert, "--dry-run", "--image-tag", "t"])
    assert proc.returncode == 2 and "two or more --subnets" in proc.stderr
    proc = run([*GOOD, *cidr, *cert, "--dry-run", "--image-tag", "t", "--budget", "30"])
    assert proc.returncode == 3 and "above the budget" in proc.stderr  # 42.87 > 30
    proc = run([*GOOD, *cidr, *cert, "--dry-run", "--image-tag", "t"])
    assert proc.returncode == 0, proc.stderr
    assert "ParameterKey=DashboardCertificateArn,ParameterValue=arn:aws:acm:" in proc.stdout


def test_deployment_doc_cost_table_matches_the_estimate() -> None:
    """docs/DEPLOYMENT.md shows what the script computes, for 100, 1,000 and 5,000 channels."""
    doc = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    (row,) = [ln for ln in doc.splitlines() if ln.startswith("| **total** |")]
    documented = [float(c.strip(" *")) for c in row.strip("|").split("|")[1:]]
    computed = [
        total(run(["--estimate-only", "--channels", str(n)]).stdout) for n in (100, 1000, 5000)
    ]
    assert documented == computed
