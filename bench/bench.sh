#!/usr/bin/env bash
# `make bench`: build what the benchmark runs, then bench/run.py, which prints one
# markdown table per section and writes them to bench/results/latest.md.
#
#   1. .venv/bench from bench/requirements.txt (rebuilt when the pin file changes)
#   2. the release binaries: cargo build --release --locked -p bench -p producer -p handler;
#      the handler and bench-hello as the Lambda zip builds them (opt-level "s"), for
#      x86-64, in target/lambda-x86 (D and E); the criterion bench, when C runs
#   3. the arm64 zip (make build-lambda, ~6 min) unless BENCH_SKIP_ZIP=1 or E is left out
#   4. bench/run.py, under infra/local/local.sh run (LocalStack) when section A runs
#
# Settings: BENCH_ONLY=A,B,C,D,E,F (all), BENCH_SKIP_ZIP=1, and run.py's (see its docstring).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}
make=make  # not $(MAKE) in the Makefile, so that `make -n bench` runs nothing
pins=bench/requirements.txt
venv=.venv/bench

say() { printf '[bench] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
only=$(tr '[:lower:]' '[:upper:]' <<<"${BENCH_ONLY:-A,B,C,D,E,F}" | tr -d ' ')
selected() { [[ ",$only," == *",$1,"* ]]; }

python311() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  die "the benchmark needs Python 3.11 or newer (python3.11 on PATH); none was found"
}

# 1. The Python side (the boto3 and Powertools peers, coldstart.py), as local.sh does its venvs.
stamp=$(sha256sum "$pins" | cut -d' ' -f1)
if ! [ -f "$venv/.pins" ] || [ "$(cat "$venv/.pins")" != "$stamp" ]; then
  say "installing $pins into $venv"
  rm -rf "$venv"
  mkdir -p .venv
  "$(python311)" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$pins" ||
    die "pip could not install $pins"
  echo "$stamp" > "$venv/.pins"
fi

# 2. The binaries, before any emulator runs.
say "cargo build --release -p bench -p producer -p handler -p operations"
"$cargo" build --release --locked -p bench -p producer -p handler -p operations
if selected D || selected E; then
  # The Lambda binaries as the zip builds them (opt-level "s", see the Makefile's
  # build-lambda), for this machine: what D and E measure.
  say "the handler and bench-hello as the Lambda zip builds them, for x86-64 (target/lambda-x86)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL="${LAMBDA_OPT_LEVEL:-s}" "$cargo" build --release --locked \
    --target-dir target/lambda-x86 -p handler -p bench --bin handler --bin bench-hello
fi
if selected C && [ "${BENCH_CRITERION:-run}" != read ]; then
  say "compiling the criterion bench (run.py runs it)"
  "$cargo" bench -p bench --bench cpu_per_job --locked --no-run
fi

# 3. The arm64 zips, whose sizes section E reports: without the handler's
# `http` feature first, kept aside, then as deployed.
if selected E && [ "${BENCH_SKIP_ZIP:-0}" != 1 ]; then
  say "make build-lambda LAMBDA_FEATURES=cloudwatch (the arm64 zip without http; BENCH_SKIP_ZIP=1 skips the zips)"
  "$make" --no-print-directory build-lambda LAMBDA_FEATURES=cloudwatch
  cp target/lambda/handler/bootstrap.zip target/lambda/handler/bootstrap-without-http.zip
  say "make build-lambda (the arm64 zip; about 6 minutes)"
  "$make" --no-print-directory build-lambda
fi

# 4. The run. Sections A and F need the local emulator.
export BENCH_COMMAND="${BENCH_COMMAND:-bench/bench.sh${*:+ $*}}"
if selected A || selected F; then
  exec infra/local/local.sh run "$venv/bin/python" bench/run.py "$@"
fi
exec "$venv/bin/python" bench/run.py "$@"
