#!/usr/bin/env bash
# The local AWS: LocalStack (SQS, S3, CloudFormation, SSM, Secrets Manager) and moto
# (SES v2, DynamoDB), each from its own pinned virtualenv, bound to 127.0.0.1. The
# stack comes from infra/template.yaml, deployed with the function left out.
#
#   local.sh install   create the virtualenvs from the pin files (only what changed)
#   local.sh browser   install Debian's chromium and chromium-driver when missing
#                      (the console's browser test)
#   local.sh up        install, start both emulators, deploy the stack, write .local/env
#   local.sh down      stop what `up` started, by process id
#   local.sh run CMD…  run CMD with the local AWS up and its settings in the
#                      environment; stops it afterwards unless it was already up
#
# Settings (environment): LOCALSTACK_PORT (4566), MOTO_PORT (5000),
# LOCAL_AWS=docker to run the pinned LocalStack image instead of the host package,
# JOBS_SENDER (jobs@example.com), STACK_NAME (jobs-local).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/infra/local"
venvs="$root/.venv"
state="$root/.local"
localstack_port=${LOCALSTACK_PORT:-4566}
moto_port=${MOTO_PORT:-5000}
sender=${JOBS_SENDER:-jobs@example.com}
stack=${STACK_NAME:-jobs-local}
bucket=${JOBS_LOCAL_BUCKET:-jobs-local-uploads}
table=jobs-local-idempotency
shop_table=shop-local-products
# Above every job type's Retry::Limit (the shop's reminder allows 5 retries: 6 deliveries).
max_receive_count=10
# What http jobs run locally may reach past the address guard: test servers on
# 127.0.0.1, and nothing else of the machine's (not ::1, not the private ranges).
http_allow=127.0.0.1/32
region=${AWS_REGION:-us-east-1}
localstack_image=${LOCALSTACK_IMAGE:-localstack/localstack:4.9.2}
# ssm and secretsmanager: the signing secrets of http jobs (GetParameter, also through
# /aws/reference/secretsmanager/NAME).
localstack_services=sqs,s3,cloudformation,iam,sts,sns,cloudwatch,logs,ssm,secretsmanager,scheduler

# The emulators take any credentials; these keep the SDKs and CLIs from looking
# further (instance metadata, a developer's real profile).
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
unset AWS_PROFILE AWS_SESSION_TOKEN

say() { printf '[local-aws] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# LocalStack's core needs Python 3.12 or newer; moto and the tools run on 3.11+.
find_python() {
  local minor=$1 candidate pyenv_root=""
  if command -v pyenv >/dev/null 2>&1; then pyenv_root=$(pyenv root); fi
  for candidate in "python3.$minor" ${pyenv_root:+"$pyenv_root"/versions/3."$minor".*/bin/python3}; do
    # A pyenv shim can exist on PATH without the version behind it: run it to be sure.
    if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (3, $minor))" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

python_for() {
  case $1 in
    localstack) find_python 13 || find_python 12 ||
      die "LocalStack needs Python 3.12 or 3.13 (python3.13 on PATH, or pyenv's 3.13.x); none was found" ;;
    *) find_python 11 || find_python 12 || find_python 13 ||
      die "$1 needs Python 3.11 or newer (python3.11 on PATH, or pyenv's 3.11.x); none was found" ;;
  esac
}

# One virtualenv per tool, rebuilt when its pin file changes.
ensure_venv() {
  local name=$1 pins="$here/requirements-$1.txt" venv="$venvs/$1" stamp
  stamp=$(sha256sum "$pins" | cut -d' ' -f1)
  if [ -f "$venv/.pins" ] && [ "$(cat "$venv/.pins")" = "$stamp" ]; then
    return 0
  fi
  say "installing $name from $(basename "$pins") into .venv/$name"
  rm -rf "$venv"
  "$(python_for "$name")" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$pins" ||
    die "pip could not install $pins"
  echo "$stamp" > "$venv/.pins"
}

install() {
  mkdir -p "$venvs"
  if [ "${LOCAL_AWS:-host}" != docker ]; then ensure_venv localstack; fi
  ensure_venv moto
  ensure_venv tools
  ensure_venv lambda
}

# Debian's own packages, not a browser download (which cannot be fetched here).
# Not pinned to a version: Debian's security archive keeps only the newest build
# of chromium, so a pin would stop installing at its next update.
install_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "the console's browser test needs chromium and chromedriver; install them with your package manager"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "installing chromium needs root: run 'apt-get install chromium chromium-driver' as root"
    sudo=sudo
  fi
  say "installing Debian's chromium and chromium-driver (the console's browser test)"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ||
    die "apt-get could not install chromium and chromium-driver"
}

wait_for() {
  local name=$1 url=$2 pidfile=$3 log=$4 i
  for i in $(seq 1 120); do
    if curl -fsS "$url" >/dev/null 2>&1; then say "$name is up"; return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "$name exited while starting; its log is $log"
    fi
    sleep 0.5
  done
  tail -n 30 "$log" >&2 || true
  die "$name did not answer on $url within 60 s; its log is $log"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_localstack() {
  port_free "$localstack_port" || die "port $localstack_port is taken: is another LocalStack running? (make local-down)"
  if [ "${LOCAL_AWS:-host}" = docker ]; then
    say "starting LocalStack $localstack_image in Docker on 127.0.0.1:$localstack_port"
    docker run -d --rm -p "127.0.0.1:$localstack_port:4566" -e SERVICES="$localstack_services" \
      -e LOCALSTACK_AUTH_TOKEN="${LOCALSTACK_AUTH_TOKEN:-}" -e SQS_ENDPOINT_STRATEGY=path \
      "$localstack_image" > "$state/localstack.container"
  else
    say "starting LocalStack on 127.0.0.1:$localstack_port"
    mkdir -p "$state/localstack-data"
    # Why each setting: docs/stack.md, "The local AWS".
    (cd "$state" && OVERRIDE_IN_DOCKER=0 GATEWAY_SERVER=hypercorn \
      GATEWAY_LISTEN="127.0.0.1:$localstack_port" LOCALSTACK_HOST="127.0.0.1:$localstack_port" \
      SQS_ENDPOINT_STRATEGY=path DNS_ADDRESS=0 SERVICES="$localstack_services" DEBUG="${LOCALSTACK_DEBUG:-0}" \
      FILESYSTEM_ROOT="$state/localstack-data" TMPDIR="$state/localstack-data" \
      exec "$venvs/localstack/bin/python" -m localstack.runtime.main \
      > "$state/localstack.log" 2>&1) &
    echo $! > "$state/localstack.pid"
  fi
  wait_for LocalStack "http://127.0.0.1:$localstack_port/_localstack/health" "$state/localstack.pid" "$state/localstack.log"
}

start_moto() {
  port_free "$moto_port" || die "port $moto_port is taken: is another moto running? (make local-down)"
  say "starting moto (SES v2, DynamoDB) on 127.0.0.1:$moto_port"
  # One request at a time, so that a conditional write is atomic as in DynamoDB.
  "$venvs/moto/bin/python" "$here/moto_serial.py" -H 127.0.0.1 -p "$moto_port" > "$state/moto.log" 2>&1 &
  echo $! > "$state/moto.pid"
  wait_for moto "http://127.0.0.1:$moto_port/moto-api/" "$state/moto.pid" "$state/moto.log"
}

aws_local() {
  "$venvs/tools/bin/aws" --region "$region" --endpoint-url "$1" "${@:2}"
}

deploy_stack() {
  say "deploying infra/template.yaml as stack $stack (function left out)"
  # The SAM translator refuses a local CodeUri even when a Condition leaves the
  # function out, so samlocal packages the template into LocalStack's S3 first.
  # The function's CodeUri is `!Ref HandlerCrate`, which `sam build` resolves but
  # neither packaging nor the translator do: deploy a copy that names the shipped
  # crate's directory instead.
  sed "s|CodeUri: !Ref HandlerCrate|CodeUri: $root/handler|" "$root/infra/template.yaml" > "$state/template.yaml"
  grep -qF "CodeUri: $root/handler" "$state/template.yaml" ||
    die "infra/template.yaml has no 'CodeUri: !Ref HandlerCrate' line for the local copy"
  (cd "$root/infra" && AWS_ENDPOINT_URL="http://127.0.0.1:$localstack_port" \
    "$venvs/tools/bin/samlocal" deploy --template-file "$state/template.yaml" --stack-name "$stack" \
    --region "$region" --resolve-s3 --no-confirm-changeset --no-fail-on-empty-changeset \
    --capabilities CAPABILITY_IAM --parameter-overrides DeployFunction=false FunctionTimeout=2 \
    "MaxReceiveCount=$max_receive_count" "SenderAddress=$sender" "UploadBucketName=$bucket" \
    "HttpAllow=$http_allow" \
    > "$state/deploy.log" 2>&1) || { tail -n 40 "$state/deploy.log" >&2; die "the local deploy failed; see .local/deploy.log"; }

  # SES v2 and DynamoDB live in moto, which a LocalStack stack cannot reach:
  # create the template's sender identity, SES templates and idempotency table
  # there, and the shop example's products table with its products (42 paid,
  # 7 not) from examples/shop.
  AWS_REGION=$region AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$moto_port" \
    AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$moto_port" \
    "$venvs/tools/bin/python" "$here/moto_setup.py" "$root/infra/template.yaml" "$sender" "$table" \
    --table "$root/examples/shop/template.yaml:ProductsTable=$shop_table" \
    --seed "$shop_table=$root/examples/shop/local-products.json" ||
    die "creating the SES identity, templates and tables in moto failed"

  local outputs
  outputs=$(aws_local "http://127.0.0.1:$localstack_port" cloudformation describe-stacks \
    --stack-name "$stack" --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)
  output() { awk -F '\t' -v k="$1" '$1 == k { print $2 }' <<<"$outputs"; }
  cat > "$state/env" <<EOF
# Written by \`make local-up\`; source it: . .local/env
export AWS_REGION=$region
export AWS_DEFAULT_REGION=$region
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL=http://127.0.0.1:$localstack_port
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$moto_port
export MOTO_URL=http://127.0.0.1:$moto_port
# Every queue by name; it takes precedence over JOBS_QUEUE_URL, which names the
# default queue for tools that take one queue (the aws CLI, a lone-queue app).
export JOBS_QUEUE_URLS='$(output QueueUrls)'
export JOBS_QUEUE_URL=$(output DefaultQueueUrl)
export JOBS_DLQ_URL=$(output DefaultDeadLetterQueueUrl)
export JOBS_BUCKET=$(output UploadBucketName)
export JOBS_PAYLOAD_BUCKET=$(output PayloadBucketName)
export JOBS_SCHEDULE_GROUP=$(output ScheduleGroupName)
export JOBS_MAIL_FROM=$(output SenderAddress)
export JOBS_MAX_RECEIVE_COUNT=$max_receive_count
export JOBS_IDEMPOTENCY_TABLE=$table
export JOBS_METRICS_NAMESPACE=$(output MetricsNamespace)
export JOBS_APP_SETTINGS='{"products_table":"$shop_table"}'
# http jobs may reach 127.0.0.1 (a test server), by plain http too; their signing
# secrets are SSM parameters under /jobs/webhooks/ (or Secrets Manager secrets
# named jobs/webhooks/...), as the stack's defaults say.
export JOBS_HTTP_ALLOW=$http_allow
export JOBS_HTTP_SECRETS_PREFIX=/jobs/webhooks/
export PATH="$venvs/tools/bin:\$PATH"
EOF
  grep -q 'JOBS_QUEUE_URL=http' "$state/env" && grep -q 'JOBS_QUEUE_URLS=.{"' "$state/env" ||
    die "the stack has no queue URL outputs; see .local/deploy.log"
  say "ready: . .local/env"
}

stop_pid() {
  local name=$1 pidfile="$state/$1.pid" pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

down() {
  stop_pid moto
  stop_pid localstack
  if [ -f "$state/localstack.container" ]; then
    docker stop "$(cat "$state/localstack.container")" >/dev/null 2>&1 || true
    rm -f "$state/localstack.container"
  fi
  rm -f "$state/env"
}

up() {
  install
  mkdir -p "$state"
  if [ -f "$state/env" ]; then
    say "already up (.local/env exists); run \`make local-down\` first to start afresh"
    return 0
  fi
  # Whatever fails part-way, stop what was started.
  trap 'down' EXIT
  start_localstack
  start_moto
  deploy_stack
  trap - EXIT
}

run() {
  local started=no status=0
  if [ ! -f "$state/env" ]; then
    up
    started=yes
    # Ctrl-C or a kill stops what was started here too.
    trap 'down; exit 130' INT TERM
  fi
  # shellcheck disable=SC1091
  (. "$state/env" && "$@") || status=$?
  if [ "$started" = yes ]; then down; fi
  return "$status"
}

case ${1:-} in
  install) install ;;
  browser) install_browser ;;
  up) up ;;
  down) down ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 install|browser|up|down|run CMD..." >&2; exit 2 ;;
esac
