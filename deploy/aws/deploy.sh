#!/usr/bin/env bash
# Deploy ViewerAtlas to AWS (deploy/aws/template.yaml) with cost guardrails:
#   1. refuses to deploy without a budget alarm (an alert e-mail, a budget > 0, and the
#      template's AWS::Budgets::Budget with notifications);
#   2. estimates the monthly cost for the configured channel count;
#   3. creates a CloudFormation change set and shows it;
#   4. asks for confirmation (or --yes), then executes it and waits.
# --dry-run does 1 and 2 and prints the AWS commands it would run, without calling AWS.
#
# Usage:
#   deploy/aws/deploy.sh --email you@example.com --vpc vpc-0abc --subnets subnet-1,subnet-2 \
#       [--channels 100] [--budget 50] [--stack vieweratlas] [--region us-east-1] \
#       [--image-tag TAG] [--disabled] [--no-data-hours 3] [--cfn-role ARN] [--yes] [--dry-run]
#       [--dashboard-cidr 203.0.113.7/32]   # also run the web dashboard, reachable from there
#       [--dashboard-certificate ARN]       # with TLS: a load balancer with this ACM certificate
#       [--spark-engine none|emr-serverless]  # the daily analysis as a Spark job (EMR Serverless)
#   deploy/aws/deploy.sh --estimate-only [--channels N] [--spark-engine E]  # just the cost table
#       [--dashboard-cidr C [--dashboard-certificate ARN]]                 # (with the dashboard)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="${HERE}/template.yaml"

STACK="vieweratlas"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
CHANNELS=100
BUDGET=50
EMAIL=""
VPC=""
SUBNETS=""
IMAGE_TAG=""
ENABLED="true"
NO_DATA_HOURS=3
CFN_ROLE=""
DASHBOARD_CIDR=""
DASHBOARD_CERT=""
SPARK_ENGINE="none"
YES=0
DRY_RUN=0
ESTIMATE_ONLY=0

die() { echo "deploy: $*" >&2; exit 2; }
refuse() { echo "deploy: REFUSED: $*" >&2; exit 3; }

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK="${2:?}"; shift 2 ;;
    --region) REGION="${2:?}"; shift 2 ;;
    --channels) CHANNELS="${2:?}"; shift 2 ;;
    --budget) BUDGET="${2:?}"; shift 2 ;;
    --email) EMAIL="${2:?}"; shift 2 ;;
    --vpc) VPC="${2:?}"; shift 2 ;;
    --subnets) SUBNETS="${2:?}"; shift 2 ;;
    --image-tag) IMAGE_TAG="${2:?}"; shift 2 ;;
    --no-data-hours) NO_DATA_HOURS="${2:?}"; shift 2 ;;
    --cfn-role) CFN_ROLE="${2:?}"; shift 2 ;;
    --dashboard-cidr) DASHBOARD_CIDR="${2:?}"; shift 2 ;;
    --dashboard-certificate) DASHBOARD_CERT="${2:?}"; shift 2 ;;
    --spark-engine) SPARK_ENGINE="${2:?}"; shift 2 ;;
    --disabled) ENABLED="false"; shift ;;
    --yes|-y) YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --estimate-only) ESTIMATE_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# ---------------------------------------------------------------- input checks
if ! [[ "$CHANNELS" =~ ^[0-9]+$ ]] || [ "$CHANNELS" -lt 1 ] || [ "$CHANNELS" -gt 5000 ]; then
  die "--channels must be a whole number from 1 to 5000 (got '$CHANNELS')"
fi
[[ "$BUDGET" =~ ^[0-9]+$ ]] || die "--budget must be a whole number of USD (got '$BUDGET')"
[[ "$STACK" =~ ^[a-z][a-z0-9-]{0,30}$ ]] \
  || die "--stack must be lower-case letters, digits and '-' (max 31; got '$STACK')"
[[ "$REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || die "--region looks wrong: '$REGION'"
case "$SPARK_ENGINE" in
  none|emr-serverless) ;;
  *) die "--spark-engine must be none or emr-serverless (got '$SPARK_ENGINE')" ;;
esac
if [ -n "$DASHBOARD_CIDR" ] \
   && ! [[ "$DASHBOARD_CIDR" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-9]|3[0-2])$ ]]; then
  die "--dashboard-cidr must be one IPv4 network from /16 to /32, e.g. 203.0.113.7/32"
fi
if [ -n "$DASHBOARD_CERT" ]; then
  [ -n "$DASHBOARD_CIDR" ] || die "--dashboard-certificate needs --dashboard-cidr (who may reach it)"
  [[ "$DASHBOARD_CERT" =~ ^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$ ]] \
    || die "--dashboard-certificate must be an ACM certificate ARN (got '$DASHBOARD_CERT')"
fi
DASHBOARD="none"
[ -z "$DASHBOARD_CIDR" ] || DASHBOARD="direct"
[ -z "$DASHBOARD_CERT" ] || DASHBOARD="alb"
if ! [[ "$NO_DATA_HOURS" =~ ^[0-9]+$ ]] || [ "$NO_DATA_HOURS" -lt 1 ] \
   || [ "$NO_DATA_HOURS" -gt 24 ]; then
  die "--no-data-hours must be 1-24"
fi

# ---------------------------------------------------------------- cost estimate
# Monthly USD, us-east-1 list prices (Linux/x86). Fargate Spot is taken at 70 % off the
# on-demand price (it varies); sizes and run lengths follow the task definitions.
# estimate CHANNELS SPARK_ENGINE DASHBOARD (none | direct | alb)
estimate() {
  awk -v ch="$1" -v spark="$2" -v dash="${3:-none}" '
  function fargate(vcpu, gb, hours) { return hours * (vcpu * 0.04048 + gb * 0.004445) * 0.30 }
  BEGIN {
    # collector: long-running; a bigger size above 500 / 2000 channels
    cv = 0.25; cg = 0.5
    if (ch > 500)  { cv = 0.5; cg = 1 }
    if (ch > 2000) { cv = 1;   cg = 2 }
    collector = fargate(cv, cg, 730)
    # analysis: daily, 1 vCPU / 2 GB, ~5 min + 1 min per 100 channels
    amin = 5 + ch / 100; if (amin > 120) amin = 120
    analysis = fargate(1, 2, 30 * amin / 60)
    # Spark on EMR Serverless (optional; then it runs the daily analysis instead of ECS):
    # a 4 vCPU / 16 GB driver and on average two such executors, ~20 min a day with the
    # start-up; $0.052624 per vCPU-hour and $0.0057785 per GB-hour, nothing while idle
    emr = 0; smin = 20
    if (spark == "emr-serverless") {
      emr = 30 * smin / 60 * (12 * 0.052624 + 48 * 0.0057785)
      analysis = 0; amin = 0
    }
    # VOD replay: every 6 h, 0.5 vCPU / 1 GB, ~5 min + 12 s per channel (capped at 5 h)
    vmin = 5 + ch * 0.2; if (vmin > 300) vmin = 300
    vod = fargate(0.5, 1, 120 * vmin / 60)
    # public IPv4 addresses, $0.005/h while a task runs (no NAT gateway)
    ipv4 = 0.005 * (730 + 30 * amin / 60 + 120 * vmin / 60)
    # S3: ~15 MB of Parquet per channel-month (Standard), PUT/GET/LIST requests
    s3 = ch * 0.015 * 0.023 + 0.05 + ch * 0.0005
    # CloudWatch: 11 EMF metric series ($0.30; see vieweratlas.metrics), 3 alarms ($0.10),
    # log ingestion ~1 MB/channel
    cw = 11 * 0.30 + 3 * 0.10 + ch * 0.001 * 0.50
    secrets = 0.40
    ecr = 0.10
    if (spark == "emr-serverless") ecr += 0.30  # the -spark image (EMR base, ~3 GB)
    # the web dashboard (optional): 0.25 vCPU / 1 GB 24/7, its public IPv4 address, its
    # token secret; with TLS an Application Load Balancer: $0.0225/h, ~0.1 LCU on average
    # ($0.008/LCU-h), and one public IPv4 address in each of (at least) two subnets
    web = 0; alb = 0
    if (dash != "none") {
      web = fargate(0.25, 1, 730)
      ipv4 += 0.005 * 730
      secrets += 0.40
    }
    if (dash == "alb") alb = 730 * (0.0225 + 0.1 * 0.008) + 2 * 0.005 * 730
    total = collector + analysis + emr + vod + ipv4 + s3 + cw + secrets + ecr + web + alb
    printf "%-50s %9s\n", "item (channels: " ch ")", "USD/month"
    printf "%-50s %9.2f\n", sprintf("collector  Fargate Spot %.2g vCPU / %g GB, 24/7", cv, cg), collector
    if (spark == "emr-serverless") {
      printf "%-50s %9.2f\n", "analysis   ECS task off (the Spark job runs it)", analysis
      printf "%-50s %9.2f\n", sprintf("spark      EMR Serverless 12 vCPU / 48 GB, ~%d min", smin), emr
    } else {
      printf "%-50s %9.2f\n", sprintf("analysis   1 vCPU / 2 GB, daily, ~%d min", amin), analysis
    }
    printf "%-50s %9.2f\n", sprintf("vod        0.5 vCPU / 1 GB, 4x daily, ~%d min", vmin), vod
    if (dash != "none") {
      printf "%-50s %9.2f\n", "dashboard  Fargate Spot 0.25 vCPU / 1 GB, 24/7", web
    }
    if (dash == "alb") {
      printf "%-50s %9.2f\n", "dashboard  load balancer (TLS), 2 public IPv4", alb
    }
    printf "%-50s %9.2f\n", "public IPv4 addresses (no NAT gateway)", ipv4
    printf "%-50s %9.2f\n", "S3 lake (storage + requests)", s3
    printf "%-50s %9.2f\n", "CloudWatch metrics, alarms, logs (7 days)", cw
    printf "%-50s %9.2f\n", sprintf("Secrets Manager (%d secret%s)", secrets / 0.40 + 0.5, secrets > 0.5 ? "s" : ""), secrets
    printf "%-50s %9.2f\n", "ECR image storage", ecr
    printf "%-50s %9.2f\n", "TOTAL (estimate)", total
  }'
}

if [ "$ESTIMATE_ONLY" -eq 1 ]; then
  estimate "$CHANNELS" "$SPARK_ENGINE" "$DASHBOARD"
  exit 0
fi

# ---------------------------------------------------------------- budget guard
[ -f "$TEMPLATE" ] || die "template not found: $TEMPLATE"
grep -q 'Type: AWS::Budgets::Budget' "$TEMPLATE" \
  || refuse "the template has no AWS::Budgets::Budget: never deploy without a budget alarm"
grep -q 'NotificationsWithSubscribers:' "$TEMPLATE" \
  || refuse "the template's budget has no notifications: never deploy without a budget alarm"
[ "$BUDGET" -gt 0 ] || refuse "--budget must be above 0 USD: never deploy without a budget alarm"
[ -n "$EMAIL" ] || refuse "--email is required: the budget alarm and alerts need a recipient"
[[ "$EMAIL" =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]] || die "--email looks wrong"
[[ "$VPC" =~ ^vpc-[0-9a-f]+$ ]] || die "--vpc vpc-… is required (the default VPC is fine)"
[[ "$SUBNETS" =~ ^subnet-[0-9a-f]+(,subnet-[0-9a-f]+)*$ ]] \
  || die "--subnets subnet-…[,subnet-…] is required (public subnets of the VPC)"
if [ "$DASHBOARD" = alb ] && [[ "$SUBNETS" != *,* ]]; then
  die "--dashboard-certificate needs two or more --subnets (a load balancer spans two zones)"
fi
if [ -n "$CFN_ROLE" ] && ! [[ "$CFN_ROLE" =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$ ]]; then
  die "--cfn-role must be an IAM role ARN"
fi
if [ -z "$IMAGE_TAG" ]; then
  IMAGE_TAG="$(git -C "$HERE" rev-parse --short=12 HEAD 2>/dev/null || true)"
  [ -n "$IMAGE_TAG" ] || die "--image-tag is required outside a git checkout"
fi

echo "Estimated monthly cost:"
estimate "$CHANNELS" "$SPARK_ENGINE" "$DASHBOARD" | sed 's/^/  /'
TOTAL="$(estimate "$CHANNELS" "$SPARK_ENGINE" "$DASHBOARD" | awk '/^TOTAL/ { print $NF }')"
if awk -v t="$TOTAL" -v b="$BUDGET" 'BEGIN { exit !(t > b) }'; then
  refuse "the estimate (${TOTAL} USD) is above the budget (${BUDGET} USD); raise --budget or lower --channels"
fi
echo "Budget: ${BUDGET} USD/month, alerts to ${EMAIL} (80 % actual, 100 % forecast)."

CHANGE_SET="deploy-$(date -u +%Y%m%dT%H%M%SZ)"
# CloudFormation acts with its own service role when given (the CI deploy role may only
# pass that role, not create IAM resources itself).
ROLE_ARGS=()
[ -z "$CFN_ROLE" ] || ROLE_ARGS=(--role-arn "$CFN_ROLE")
PARAMS=(
  "ParameterKey=ImageTag,ParameterValue=${IMAGE_TAG}"
  "ParameterKey=ChannelCount,ParameterValue=${CHANNELS}"
  "ParameterKey=Enabled,ParameterValue=${ENABLED}"
  "ParameterKey=VpcId,ParameterValue=${VPC}"
  "ParameterKey=SubnetIds,ParameterValue=${SUBNETS//,/\\,}"
  "ParameterKey=AlertEmail,ParameterValue=${EMAIL}"
  "ParameterKey=MonthlyBudgetUsd,ParameterValue=${BUDGET}"
  "ParameterKey=NoDataHours,ParameterValue=${NO_DATA_HOURS}"
  "ParameterKey=DashboardCidr,ParameterValue=${DASHBOARD_CIDR}"
  "ParameterKey=DashboardCertificateArn,ParameterValue=${DASHBOARD_CERT}"
  "ParameterKey=SparkEngine,ParameterValue=${SPARK_ENGINE}"
)

if [ "$DRY_RUN" -eq 1 ]; then
  echo "Dry run: would run"
  echo "  aws cloudformation create-change-set --region ${REGION} --stack-name ${STACK}" \
       "--change-set-name ${CHANGE_SET} --change-set-type CREATE|UPDATE" \
       "--template-body file://${TEMPLATE} --capabilities CAPABILITY_IAM ${ROLE_ARGS[*]}" \
       "--parameters ${PARAMS[*]}"
  echo "  aws cloudformation describe-change-set …   (shown, then confirmation)"
  echo "  aws cloudformation execute-change-set …    (then wait for the stack)"
  exit 0
fi

# ---------------------------------------------------------------- change set
command -v aws >/dev/null || die "the AWS CLI (aws) is not installed"
AWS=(aws --region "$REGION")
"${AWS[@]}" sts get-caller-identity --query Account --output text >/dev/null \
  || die "no AWS credentials (aws sts get-caller-identity failed)"

if "${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" >/dev/null 2>&1; then
  TYPE=UPDATE
else
  TYPE=CREATE
fi
echo "Creating change set ${CHANGE_SET} (${TYPE}) for stack ${STACK} in ${REGION}…"
"${AWS[@]}" cloudformation create-change-set --stack-name "$STACK" \
  --change-set-name "$CHANGE_SET" --change-set-type "$TYPE" \
  --template-body "file://${TEMPLATE}" --capabilities CAPABILITY_IAM "${ROLE_ARGS[@]}" \
  --parameters "${PARAMS[@]}" --tags Key=project,Value=vieweratlas >/dev/null
if ! "${AWS[@]}" cloudformation wait change-set-create-complete \
     --stack-name "$STACK" --change-set-name "$CHANGE_SET"; then
  REASON="$("${AWS[@]}" cloudformation describe-change-set --stack-name "$STACK" \
    --change-set-name "$CHANGE_SET" --query StatusReason --output text)"
  "${AWS[@]}" cloudformation delete-change-set --stack-name "$STACK" \
    --change-set-name "$CHANGE_SET" >/dev/null || true
  case "$REASON" in
    *"didn't contain changes"*|*"No updates"*) echo "No changes to deploy."; exit 0 ;;
    *) die "change set failed: ${REASON}" ;;
  esac
fi
"${AWS[@]}" cloudformation describe-change-set --stack-name "$STACK" \
  --change-set-name "$CHANGE_SET" --output table \
  --query 'Changes[].ResourceChange.{Action:Action,Resource:LogicalResourceId,Type:ResourceType,Replace:Replacement}'

if [ "$YES" -ne 1 ]; then
  read -r -p "Execute this change set? [y/N] " answer || answer=""
  case "$answer" in
    y|Y|yes|YES) ;;
    *) "${AWS[@]}" cloudformation delete-change-set --stack-name "$STACK" \
         --change-set-name "$CHANGE_SET" >/dev/null
       echo "Cancelled; nothing deployed."; exit 1 ;;
  esac
fi

"${AWS[@]}" cloudformation execute-change-set --stack-name "$STACK" \
  --change-set-name "$CHANGE_SET"
if [ "$TYPE" = CREATE ]; then
  "${AWS[@]}" cloudformation wait stack-create-complete --stack-name "$STACK"
else
  "${AWS[@]}" cloudformation wait stack-update-complete --stack-name "$STACK"
fi

# The budget alarm must exist after the deploy, whatever happened to the template.
BUDGET_NAME="$("${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[?OutputKey=='BudgetName'].OutputValue" --output text)"
ACCOUNT="$("${AWS[@]}" sts get-caller-identity --query Account --output text)"
"${AWS[@]}" budgets describe-budget --account-id "$ACCOUNT" --budget-name "$BUDGET_NAME" \
  >/dev/null || refuse "deployed, but budget ${BUDGET_NAME} is missing: check the account now"

"${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" --output table \
  --query 'Stacks[0].Outputs[].{Key:OutputKey,Value:OutputValue}'
echo "Deployed. Confirm the SNS e-mail subscription sent to ${EMAIL}."
