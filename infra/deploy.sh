#!/usr/bin/env bash
# `make deploy`: sam build, then sam deploy, in infra/, with the same job binary.
#
# The binary cargo-lambda builds is the template's HandlerBinary, in the crate
# HandlerCrate: `sam build` resolves the two in the function's
# Metadata.BuildProperties.Binary and CodeUri. So both commands get the same
# parameter overrides, made of, last one winning:
#   the parameters an earlier deploy saved in infra/samconfig.toml (none at first);
#   HandlerBinary=$BIN HandlerCrate=../$CRATE, when BIN is set (CRATE is the
#     crate's directory from the repository root: `make deploy BIN=shop-handler`
#     sets it to examples/shop/worker);
#   PARAMS, KEY=VALUE words, each taken whole (a JSON value keeps its quotes):
#     PARAMS='ExtraPolicyArns=ARN AppSettings={"products_table":"NAME"}'.
# Without BIN, the binary saved by the last deploy is built again, else the
# shipped `handler`. The first deploy is guided (`sam deploy --guided` asks for
# every parameter and saves the answers); later ones save what BIN and PARAMS
# changed, so a plain `make deploy` deploys the same binary again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.venv/tools/bin"
export PATH="$root/.venv/lambda/bin:$tools:$PATH"

say() { printf '[deploy] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The saved overrides (samconfig.toml's [default.deploy.parameters]), read and
# written with SAM CLI's own parser, in the quoted form `sam deploy --guided` saves.
#   samconfig has          exit 0 when overrides are saved
#   samconfig merge ARG…   print the saved overrides with ARG… applied
#   samconfig save TEXT    save TEXT as the overrides
samconfig() {
  "$tools/python" - "$@" <<'EOF'
import sys

from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig

command, args = sys.argv[1], sys.argv[2:]
config = SamConfig(".")
if command == "save":
    # On a SamConfig get_all() has not read: get_all() copies the deploy section
    # into the global one of the document it holds, which flush() would write.
    config.put(["deploy"], "parameters", "parameter_overrides", args[0])
    config.flush()
    sys.exit(0)
saved = config.get_all(["deploy"], "parameters").get("parameter_overrides") if config.exists() else None
if command == "has":
    sys.exit(0 if saved else 1)
merged = CfnParameterOverridesType().convert([saved], None, None) if saved else {}
# Each ARG is one KEY=VALUE word, taken as it is: a value may hold quotes, as
# the JSON of AppSettings does, which SAM's own parser would cut at the first.
for arg in args:
    key, _, value = arg.partition("=")
    merged[key] = value
print(" ".join('{}="{}"'.format(k, str(v).replace('"', '\\"')) for k, v in merged.items()))
EOF
}

overrides=()
if [ -n "${BIN:-}" ]; then
  [ -n "${CRATE:-}" ] || die "BIN=$BIN needs CRATE, the directory of its crate"
  [ -f "$root/$CRATE/Cargo.toml" ] || die "CRATE=$CRATE has no Cargo.toml"
  overrides+=("HandlerBinary=$BIN" "HandlerCrate=../$CRATE")
fi
# PARAMS is KEY=VALUE words.
# shellcheck disable=SC2206
overrides+=(${PARAMS:-})

cd "$root/infra"
parameters=$(samconfig merge "${overrides[@]}") || die "could not read the parameters in infra/samconfig.toml"
binary=$(sed -n 's/.*HandlerBinary="\([^"]*\)".*/\1/p' <<<"$parameters")
say "building and deploying the job binary ${binary:-handler}"

if samconfig has; then
  sam build --beta-features --parameter-overrides "$parameters"
  sam deploy --parameter-overrides "$parameters"
  if [ "$parameters" != "$(samconfig merge)" ]; then
    samconfig save "$parameters"
    say "saved the parameters in infra/samconfig.toml: a plain \`make deploy\` deploys ${binary:-handler} again"
  fi
else
  sam build --beta-features ${parameters:+--parameter-overrides "$parameters"}
  sam deploy --guided ${parameters:+--parameter-overrides "$parameters"}
fi
