"""deploy/aws/template.yaml: cfn-lint and checkov clean, and it says what the issue asks
(sizes, schedules, guardrails, least privilege), consistent with the code it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from deploytools import OIDC, TEMPLATE, load_template, resources

from testkit import require_program
from vieweratlas import metrics
from vieweratlas.cli import main
from vieweratlas.config import RetentionSettings, load_settings
from vieweratlas.lake.retention import rules_from
from vieweratlas.runs import ANALYSIS_DIR, RUNS_DIR

CHECKOV = "checkov==3.3.30"


def _cli_ok(args: list[str]) -> int:
    try:
        main([*args, "--help"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _walk(node: object) -> list[object]:
    """Every node of a parsed template, depth first."""
    out = [node]
    if isinstance(node, dict):
        for v in node.values():
            out += _walk(v)
    elif isinstance(node, list):
        for v in node:
            out += _walk(v)
    return out


@pytest.mark.slow
def test_cfn_lint_clean_and_catches_mistakes(tmp_path: Path) -> None:
    """The templates lint clean; a copy with a wrong Fargate size and a dangling Ref does
    not (so the linter really checks). One cfn-lint process for both files."""
    text = TEMPLATE.read_text()
    bad = text.replace('Cpu: "1024"', 'Cpu: "1000"').replace(
        "Cluster: !Ref Cluster", "Cluster: !Ref NoSuchCluster"
    )
    assert bad != text
    broken = tmp_path / "broken.yaml"
    broken.write_text(bad)
    exe = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run(
        [str(exe), "--format", "parseable", str(TEMPLATE), str(OIDC), str(broken)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    findings = [line for line in proc.stdout.splitlines() if line.strip()]
    assert findings, proc.stderr
    assert all(line.startswith(str(broken)) for line in findings), findings
    assert any("NoSuchCluster" in line for line in findings)
    assert any("1000" in line or "Cpu" in line for line in findings)


@pytest.mark.slow
def test_checkov_no_unexplained_findings(tmp_path: Path) -> None:
    """checkov (a pinned version in its own tool environment) finds nothing in either
    template; every skip carries a reason."""
    uv = require_program("uv")
    proc = subprocess.run(
        [
            uv, "tool", "run", "--from", CHECKOV, "checkov",
            "--directory", str(TEMPLATE.parent), "--framework", "cloudformation",
            "--skip-download", "--quiet", "--compact", "--output", "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = report["results"]["failed_checks"]
    assert failed == [], [(f["check_id"], f["resource"]) for f in failed]
    assert report["summary"]["passed"] > 40
    assert proc.returncode == 0
    assert report["summary"]["resource_count"] > 32  # both templates were scanned
    for path in (TEMPLATE, OIDC):
        for name, res in load_template(path)["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 40, f"{name}: {skip['id']} needs a reason"


def _container(task: str) -> dict[str, Any]:
    (container,) = resources("AWS::ECS::TaskDefinition")[task]["ContainerDefinitions"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("task", "cpu", "memory"),
    [
        ("CollectorTaskDefinition", "256", "512"),
        ("AnalysisTaskDefinition", "1024", "2048"),
        ("TrackTaskDefinition", "1024", "2048"),
        ("VodTaskDefinition", "512", "1024"),
    ],
)
def test_task_sizes_as_the_original(task: str, cpu: str, memory: str) -> None:
    td = resources("AWS::ECS::TaskDefinition")[task]
    assert (td["Cpu"], td["Memory"]) == (cpu, memory)
    assert td["RequiresCompatibilities"] == ["FARGATE"]
    c = _container(task)
    assert c["ReadonlyRootFilesystem"] is True
    # Twitch credentials come from Secrets Manager only, never plain environment.
    env_names = {e["Name"] for e in c["Environment"]}
    assert not any(n.startswith("TWITCH") for n in env_names)
    for secret in c.get("Secrets", []):
        assert secret["ValueFrom"]["Fn::Sub"].startswith("${TwitchSecret}:")
    # The environment is what the app understands (unknown VIEWERATLAS_ vars are errors).
    env = {e["Name"]: "s3://bucket/lake" if "Fn::Sub" in str(e["Value"]) else e["Value"]
           for e in c["Environment"]}  # fmt: skip
    assert env["AWS_EMF_ENVIRONMENT"] == "ECS"
    assert load_settings(environ={k: str(v) for k, v in env.items()}).lake == "s3://bucket/lake"


def test_job_commands_exist_and_runtime_caps() -> None:
    collector = _container("CollectorTaskDefinition")
    assert collector["StopTimeout"] == 120  # Fargate Spot's 2-minute warning
    assert collector["HealthCheck"]["Command"][:2] == ["CMD", "vieweratlas"]
    assert _cli_ok(collector["HealthCheck"]["Command"][2:]) == 0
    for task, cap in (("CollectorTaskDefinition", None), ("AnalysisTaskDefinition", "2h"),
                      ("TrackTaskDefinition", "2h"), ("VodTaskDefinition", "5h")):  # fmt: skip
        c = _container(task)
        command = [a if isinstance(a, str) else "100" for a in c["Command"]]
        assert _cli_ok(command) == 0, task
        if cap:
            assert c["EntryPoint"][0] == "timeout"
            assert c["EntryPoint"][-2:] == [cap, "vieweratlas"]


def test_schedules_and_spot() -> None:
    sched = resources("AWS::Scheduler::Schedule")
    assert sched["AnalysisSchedule"]["ScheduleExpression"].startswith("cron(")
    assert sched["AnalysisSchedule"]["ScheduleExpression"].endswith(" * * ? *)")  # daily
    assert sched["TrackSchedule"]["ScheduleExpression"].endswith(" * * ? *)")  # daily
    assert sched["TrackSchedule"]["Target"]["EcsParameters"]["TaskDefinitionArn"] == {
        "Ref": "TrackTaskDefinition"
    }
    assert sched["VodSchedule"]["ScheduleExpression"] == "rate(6 hours)"
    for s in sched.values():
        if "EcsParameters" not in s["Target"]:
            continue  # the Spark job (EMR Serverless), tested below
        strategy = s["Target"]["EcsParameters"]["CapacityProviderStrategy"]
        assert [p["CapacityProvider"] for p in strategy] == ["FARGATE_SPOT"]
    service = resources("AWS::ECS::Service")["CollectorService"]
    assert [p["CapacityProvider"] for p in service["CapacityProviderStrategy"]] == ["FARGATE_SPOT"]
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100  # one collector


def test_bucket_private_encrypted_and_lifecycle_matches_prune() -> None:
    bucket = resources("AWS::S3::Bucket")["LakeBucket"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    # The bucket expires what `vieweratlas lake prune` would, with the same defaults.
    for rule in rules_from(RetentionSettings()):
        if rule.keep is None:
            continue
        matching = [r for r in rules.values() if r.get("Prefix") == f"lake/{rule.prefix}"]
        assert len(matching) == 1, rule
        assert timedelta(days=matching[0]["ExpirationInDays"]) == rule.keep
    curated = rules["curated-glacier-90d"]
    assert curated["Prefix"] == "lake/curated/"
    assert curated["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 90}]
    assert "ExpirationInDays" not in curated


def test_log_groups_keep_7_days() -> None:
    groups = resources("AWS::Logs::LogGroup")
    jobs = {"CollectorLogGroup", "AnalysisLogGroup", "VodLogGroup"}
    assert set(groups) == jobs | {"DashboardLogGroup"}  # the last only with a dashboard
    assert {g["RetentionInDays"] for g in groups.values()} == {7}


def _statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A policy's statements, with both branches of a conditional one (``!If``)."""
    out = []
    for st in statements:
        branches = st["Fn::If"][1:] if "Fn::If" in st else [st]
        out += [b for b in branches if "Effect" in b]
    return out


def test_iam_least_privilege() -> None:
    for name, role in resources("AWS::IAM::Role").items():
        for policy in role.get("Policies", []):
            for st in _statements(policy["PolicyDocument"]["Statement"]):
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                assert st["Effect"] == "Allow"
                assert not any(a == "*" or a.endswith(":*") for a in actions), name
                if any("Delete" in a for a in actions):
                    # Only the analysis deletes, only its own run files (a failed publish
                    # undoes its upload): never the presence or the raw data.
                    assert name in {"AnalysisTaskRole", "SparkJobRole"}, name
                    assert actions == ["s3:DeleteObject"], (name, actions)
                    assert [r["Fn::Sub"] for r in st["Resource"]] == [RUNS, INDEX]
                if st["Resource"] == "*":
                    assert actions == ["ecr:GetAuthorizationToken"], (name, actions)
    analysis = resources("AWS::IAM::Role")["AnalysisTaskRole"]
    writes = [
        st for st in analysis["Policies"][0]["PolicyDocument"]["Statement"]
        if st["Action"] == "s3:PutObject"
    ]  # fmt: skip
    # Run outputs, then the runs index entry `publish` writes last, and `track`'s windows.
    assert [w["Resource"]["Fn::Sub"] for w in writes] == [
        RUNS,
        INDEX,
        "${LakeBucket.Arn}/lake/tracking/*",
    ]
    assert INDEX.removeprefix("${LakeBucket.Arn}/lake/") == f"{RUNS_DIR}/*"
    assert RUNS.removeprefix("${LakeBucket.Arn}/lake/") == f"{ANALYSIS_DIR}/*"


RUNS, INDEX = "${LakeBucket.Arn}/lake/analysis/*", "${LakeBucket.Arn}/lake/runs/*"


def test_spark_job_is_optional_scheduled_like_the_analysis_and_scoped() -> None:
    """SparkEngine=emr-serverless swaps the daily ECS analysis for an EMR Serverless job
    running `analyze --engine spark` from the -spark image; off by default."""
    t = load_template()
    assert t["Parameters"]["SparkEngine"]["Default"] == "none"
    assert t["Conditions"]["HasSpark"] == {"Fn::Equals": [{"Ref": "SparkEngine"}, "emr-serverless"]}
    for kind, name in (("AWS::EMRServerless::Application", "SparkApplication"),
                       ("AWS::Scheduler::Schedule", "SparkSchedule"),
                       ("AWS::IAM::Role", "SparkJobRole"),
                       ("AWS::Events::Rule", "SparkJobFailedRule")):  # fmt: skip
        assert t["Resources"][name]["Type"] == kind
        assert t["Resources"][name]["Condition"] == "HasSpark", name
    app = resources("AWS::EMRServerless::Application")["SparkApplication"]
    assert app["ImageConfiguration"]["ImageUri"]["Fn::Sub"].endswith(":${ImageTag}-spark")
    assert app["AutoStopConfiguration"]["Enabled"] is True
    assert "InitialCapacity" not in app  # nothing billed while idle
    sched = resources("AWS::Scheduler::Schedule")
    spark, ecs = sched["SparkSchedule"], sched["AnalysisSchedule"]
    assert spark["ScheduleExpression"] == ecs["ScheduleExpression"]
    assert ecs["State"] == {"Fn::If": ["RunsEcsAnalysis", "ENABLED", "DISABLED"]}
    assert spark["State"] == {"Fn::If": ["RunsSpark", "ENABLED", "DISABLED"]}
    assert spark["Target"]["Arn"]["Fn::Sub"].endswith(":aws-sdk:emrserverless:startJobRun")
    text = spark["Target"]["Input"]["Fn::Sub"]
    request = json.loads(text.replace("${AWS::Region}", "r"))
    assert request["ClientToken"] == "<aws.scheduler.execution-id>"
    driver = request["JobDriver"]["SparkSubmit"]
    # The entry point is where the job image puts the script, and its arguments parse.
    dockerfile = (TEMPLATE.parent / "spark" / "Dockerfile").read_text()
    script = driver["EntryPoint"].removeprefix("local://")
    assert f"COPY deploy/aws/spark/emr_analyze.py {script}" in dockerfile
    args = [a if "${" not in a else "s3://bucket/lake" for a in driver["EntryPointArguments"]]
    assert _cli_ok(["analyze", "--engine", "spark", *args]) == 0
    logs = request["ConfigurationOverrides"]["MonitoringConfiguration"]
    assert logs["CloudWatchLoggingConfiguration"]["LogGroupName"] == "${AnalysisLogGroup}"
    # The job's role may do what the analysis task may, on the lake only.
    role = resources("AWS::IAM::Role")["SparkJobRole"]
    (principal,) = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert principal == {"Service": "emr-serverless.amazonaws.com"}
    puts = [st for st in role["Policies"][0]["PolicyDocument"]["Statement"]
            if st["Action"] == "s3:PutObject"]  # fmt: skip
    assert [r["Fn::Sub"] for st in puts for r in st["Resource"]] == [RUNS, INDEX]
    # The scheduler may start that one application's jobs and pass only that role.
    statements = resources("AWS::IAM::Role")["SchedulerRole"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
    assert [c[0] for c in conditional] == ["HasSpark", "HasSpark"]
    start, pass_role = conditional[0][1], conditional[1][1]
    assert start["Resource"] == {"Fn::GetAtt": "SparkApplication.Arn"}
    assert pass_role["Resource"] == {"Fn::GetAtt": "SparkJobRole.Arn"}
    assert pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == (
        "emr-serverless.amazonaws.com"
    )


def test_guardrails_budget_alerts_and_alarms() -> None:
    t = load_template()
    assert t["Parameters"]["MonthlyBudgetUsd"]["Default"] == 50
    (budget,) = resources("AWS::Budgets::Budget").values()
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    for n in budget["NotificationsWithSubscribers"]:
        kinds = {s["SubscriptionType"] for s in n["Subscribers"]}
        assert kinds == {"EMAIL", "SNS"}
    (topic,) = resources("AWS::SNS::Topic").values()
    assert topic["Subscription"][0]["Protocol"] == "email"
    alarms = resources("AWS::CloudWatch::Alarm")
    assert {"TaskFailuresAlarm", "NoDataAlarm", "CostAlarm"} <= set(alarms)
    nodata = alarms["NoDataAlarm"]
    # The alarm watches the metric the collector emits (vieweratlas.metrics).
    assert (nodata["Namespace"], nodata["MetricName"]) == (
        metrics.NAMESPACE,
        metrics.ROWS_COLLECTED,
    )
    assert nodata["TreatMissingData"] == "breaching"
    assert alarms["CostAlarm"]["Namespace"] == "AWS/Billing"
    rule = resources("AWS::Events::Rule")["TaskFailedRule"]
    assert rule["EventPattern"]["detail"]["lastStatus"] == ["STOPPED"]


def test_dashboard_shows_the_emitted_metrics() -> None:
    (dash,) = resources("AWS::CloudWatch::Dashboard").values()
    body = dash["DashboardBody"]["Fn::Sub"]
    for name in (metrics.ROWS_COLLECTED, metrics.CHANNELS_JOINED, metrics.RECONNECTS,
                 metrics.RUN_DURATION, metrics.COMMUNITIES_FOUND):  # fmt: skip
        assert f'"{metrics.NAMESPACE}", "{name}"' in body
    # Valid JSON once CloudFormation substitutes ${...}.
    json.loads(body.replace("${", "").replace('}"', '"'))


def test_no_plaintext_secrets_anywhere() -> None:
    text = TEMPLATE.read_text()
    assert "oauth:" not in text
    secret = resources("AWS::SecretsManager::Secret")["TwitchSecret"]
    assert json.loads(secret["SecretString"]) == {
        "client_id": "",
        "client_secret": "",
        "oauth_token": "",
    }
    for node in _walk(load_template()):
        name = node.get("Name") if isinstance(node, dict) else None
        if isinstance(name, str) and name.startswith("TWITCH_"):
            assert "ValueFrom" in node and "Value" not in node


def test_github_deploy_role_is_scoped() -> None:
    """The CI role: OIDC only from this repository's production environment; it may push
    to one ECR repository, run change sets on one stack and pass one role."""
    res = load_template(OIDC)["Resources"]
    deploy = res["DeployRole"]["Properties"]
    (trust,) = deploy["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    cond = trust["Condition"]["StringEquals"]
    assert cond["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert cond["token.actions.githubusercontent.com:sub"]["Fn::Sub"].endswith(
        ":environment:production"
    )
    for st in deploy["Policies"][0]["PolicyDocument"]["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any(a.endswith("*") for a in actions)
        if st["Resource"] == "*":
            assert actions == ["ecr:GetAuthorizationToken"]
        if "iam:PassRole" in actions:
            assert st["Resource"] == {"Fn::GetAtt": "CloudFormationRole.Arn"}
    cfn = res["CloudFormationRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    iam = [st for st in cfn if any(a.startswith("iam:") for a in st["Action"])]
    assert [st["Resource"]["Fn::Sub"] for st in iam] == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${StackName}-*"
    ]
    # The deploy role pushes to the repository the main stack names after itself.
    repo = resources("AWS::ECR::Repository")["Repository"]
    assert repo["RepositoryName"] == {"Ref": "AWS::StackName"}


def test_dashboard_is_optional_read_only_and_token_guarded() -> None:
    template = load_template()
    res = template["Resources"]
    for name in (
        "DashboardToken",
        "DashboardLogGroup",
        "DashboardTaskRole",
        "DashboardSecurityGroup",
        "DashboardTaskDefinition",
        "DashboardService",
    ):
        assert res[name]["Condition"] == "HasDashboard", name
    assert template["Parameters"]["DashboardCidr"]["Default"] == ""
    actions = {
        a
        for policy in res["DashboardTaskRole"]["Properties"]["Policies"]
        for st in policy["PolicyDocument"]["Statement"]
        for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    }
    assert actions == {"s3:ListBucket", "s3:GetObject"}
    (container,) = res["DashboardTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Command"][:3] == ["serve", "--host", "0.0.0.0"]
    assert [s["Name"] for s in container["Secrets"]] == ["VIEWERATLAS_AUTH_TOKEN"]
    # the token comes from Secrets Manager, never as a plain environment value
    assert container["Secrets"][0]["ValueFrom"] == {"Ref": "DashboardToken"}
    assert not any("TOKEN" in e["Name"] for e in container.get("Environment", []))
    # without a load balancer: port 8000 from DashboardCidr; with one: nothing inline
    cond, with_alb, direct = res["DashboardSecurityGroup"]["Properties"]["SecurityGroupIngress"][
        "Fn::If"
    ]
    assert cond == "HasDashboardAlb" and with_alb == {"Ref": "AWS::NoValue"}
    assert [(r["FromPort"], r["CidrIp"]) for r in direct] == [(8000, {"Ref": "DashboardCidr"})]


def test_dashboard_load_balancer_only_with_a_certificate() -> None:
    template = load_template()
    res = template["Resources"]
    cert = template["Parameters"]["DashboardCertificateArn"]
    assert cert["Default"] == ""
    pattern = re.compile(cert["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(
        "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-1234567890ab"
    )
    assert not pattern.fullmatch("arn:aws:iam::123456789012:server-certificate/x")
    assert template["Conditions"]["HasDashboardAlb"] == {
        "Fn::And": [
            {"Fn::Condition": "HasDashboard"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "DashboardCertificateArn"}, ""]}]},
        ]
    }
    alb = {
        "DashboardAlbSecurityGroup",
        "DashboardFromLoadBalancer",
        "DashboardLoadBalancer",
        "DashboardTargetGroup",
        "DashboardHttpsListener",
    }
    assert {n for n, r in res.items() if r.get("Condition") == "HasDashboardAlb"} == alb
    listener = res["DashboardHttpsListener"]["Properties"]
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "DashboardCertificateArn"}}]
    (_https,) = [
        ln for ln in res.values() if ln["Type"] == "AWS::ElasticLoadBalancingV2::Listener"
    ]  # no plain-HTTP listener
    (inbound,) = res["DashboardAlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (inbound["FromPort"], inbound["CidrIp"]) == (443, {"Ref": "DashboardCidr"})
    (outbound,) = res["DashboardAlbSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert outbound["DestinationSecurityGroupId"] == {"Ref": "DashboardSecurityGroup"}
    rule = res["DashboardFromLoadBalancer"]["Properties"]
    assert rule["SourceSecurityGroupId"] == {"Ref": "DashboardAlbSecurityGroup"}
    assert rule["GroupId"] == {"Ref": "DashboardSecurityGroup"}
    target = res["DashboardTargetGroup"]["Properties"]
    assert (target["TargetType"], target["Port"], target["HealthCheckPath"]) == (
        "ip",
        8000,
        "/healthz",
    )
    service = res["DashboardService"]
    assert service["Properties"]["LoadBalancers"]["Fn::If"][0] == "HasDashboardAlb"
    # the service waits for the listener (through a handle: DependsOn cannot be conditional)
    ready = res[service["DependsOn"]]
    assert ready["Metadata"]["Listener"]["Fn::If"][1] == {"Ref": "DashboardHttpsListener"}
