#!/usr/bin/env bash
# `make test`: lint, build, then every test against the local AWS, within the
# time budget of docs/tests.md ("The time budget").
#
# Compiling keeps both cores busy for most of the run. What waits on the
# network or on Python instead (the pinned virtualenvs, Debian's Chromium,
# starting LocalStack and moto and deploying the stack) runs beside it, in the
# background, with its output in .local/test-setup.log. The tests then run
# with cargo-nextest, as .config/nextest.toml says: most side by side, the
# fault and load test and the own-repository build each alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
local_aws="$root/infra/local/local.sh"
cargo=${CARGO:-cargo}
# The version of cargo-nextest this suite was measured with; installed when missing.
nextest_version=0.9.143

say() { printf '[make test] %s\n' "$*" >&2; }

mkdir -p .local
setup_log=.local/test-setup.log
already_up=no
[ -f .local/env ] && already_up=yes

# The background set-up, and what it started, end with this script however it ends.
setup_pid=
finish() {
  local status=$?
  if [ -n "$setup_pid" ] && kill -0 "$setup_pid" 2>/dev/null; then
    kill -TERM "$setup_pid" 2>/dev/null || true
    wait "$setup_pid" 2>/dev/null || true
  fi
  if [ "$already_up" = no ]; then "$local_aws" down || true; fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

say "setting up the local AWS and the browser in the background (log: $setup_log)"
(
  "$local_aws" install
  "$local_aws" browser
  if [ "$already_up" = no ]; then "$local_aws" up; fi
) > "$setup_log" 2>&1 &
setup_pid=$!

if ! "$cargo" nextest --version 2>/dev/null | grep -q "^cargo-nextest $nextest_version"; then
  say "installing cargo-nextest $nextest_version"
  "$cargo" install --locked cargo-nextest --version "$nextest_version"
fi

"$cargo" fmt --all -- --check
"$cargo" clippy --workspace --all-targets --locked -- -D warnings
# The handler without its `http` feature (the smaller Lambda binary) builds too.
"$cargo" clippy -p handler --all-targets --locked --no-default-features --features cloudwatch -- -D warnings
# What the tests run: libraries, binaries (the end-to-end tests start them),
# tests and examples. The benches were checked by clippy; `make bench` builds them.
"$cargo" build --workspace --lib --bins --tests --examples --locked

say "waiting for the background set-up"
if ! wait "$setup_pid"; then
  setup_pid=
  tail -n 40 "$setup_log" >&2
  say "the set-up failed; its whole log is $setup_log"
  exit 1
fi
setup_pid=

make --no-print-directory lint-template

# The local AWS is up: `local.sh run` uses it and leaves it up for `finish`.
"$local_aws" run "$cargo" nextest run --workspace --locked
# Doc tests (the README's and docs' Rust blocks among them), which nextest does not run.
"$local_aws" run "$cargo" test --workspace --locked --doc
