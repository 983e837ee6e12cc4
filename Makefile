# Entry points. `make test` and `make local-up` install what they need
# (pinned Python tools in .venv/) and start what they need (on 127.0.0.1).

SHELL := /bin/bash
CARGO ?= cargo
LOCAL := infra/local/local.sh

.PHONY: help demo test load lint lint-template build bins unit build-lambda deploy local-up local-down local-install browser-install clean-local bench build-times

help:
	@echo "make demo        the main job end to end: a mail, an upload, a delayed job and a poison"
	@echo "                 message through a local AWS it starts and stops"
	@echo "make test        lint, build, then every test against a local AWS it starts and stops"
	@echo "make local-up    start LocalStack (SQS, S3, CloudFormation) and moto (SES v2, DynamoDB), deploy"
	@echo "                 infra/template.yaml, write .local/env (source it: . .local/env)"
	@echo "make local-down  stop them"
	@echo "make build-lambda  the arm64 Lambda zip (target/lambda/handler/bootstrap.zip)"
	@echo "make build-lambda BIN=shop-handler   the shop example's (target/lambda/shop-handler/)"
	@echo "make deploy      sam build + sam deploy to your AWS account (guided the first time)"
	@echo "make deploy BIN=shop-handler PARAMS='ExtraPolicyArns=ARN AppSettings={\"products_table\":\"NAME\"}'"
	@echo "                 deploys the shop example's binary instead (infra/deploy.sh); a binary"
	@echo "                 of your own: BIN=name PACKAGE=its cargo package CRATE=its directory"
	@echo "make unit        the tests that need no AWS"
	@echo "make load        only the fault and load test, with its figures (LOAD_JOBS=2000,"
	@echo "                 LOAD_FAULTS_PER_MILLE=100, LOAD_WORKERS=2, LOAD_KILLS=2)"
	@echo "LOCAL_AWS=docker make local-up   runs the pinned LocalStack image instead (needs Docker)"
	@echo "make bench       the benchmark: ours against the raw SDK, boto3 and Powertools, one table per"
	@echo "                 section, also in bench/results/latest.md (bench/README.md; BENCH_ONLY=A,C"
	@echo "                 runs some sections, BENCH_SKIP_ZIP=1 skips the arm64 zip build)"
	@echo "make build-times the clean-build time and package count of the enqueue-only web app"
	@echo "                 (shop-web) beside a bare aws-sdk-sqs app, in one run (docs/performance.md)"

demo: bins local-install
	infra/local/demo.sh

bins:
	$(CARGO) build --workspace --bins --locked

# lint, build and every test, with the slow set-up (virtualenvs, Chromium, the
# local AWS) beside the build and the tests run by cargo-nextest
# (infra/local/test.sh; docs/tests.md, "The time budget").
test:
	CARGO="$(CARGO)" infra/local/test.sh

# The fault and load test alone (`make test` runs it too, alone), printing its figures.
load: build local-install
	$(LOCAL) run $(CARGO) test -p integration-tests --test load --locked -- --nocapture

lint: lint-template
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p handler --all-targets --locked --no-default-features --features cloudwatch -- -D warnings

TOOLS := .venv/tools/bin
LAMBDA_TOOLS := .venv/lambda/bin

lint-template: local-install
	$(TOOLS)/cfn-lint infra/template.yaml examples/shop/template.yaml
	$(TOOLS)/sam validate --lint --template-file infra/template.yaml --region us-east-1

# The Lambda binary: BIN, a bin target of the cargo package PACKAGE, whose crate is
# the directory CRATE. Without BIN, build-lambda builds the shipped `handler`;
# deploy, the binary the last deploy saved in infra/samconfig.toml, else `handler`.
# BIN=shop-handler is the shop example's (package shop-worker, in examples/shop/worker); for a
# binary of your own, give PACKAGE and CRATE too when they are not BIN.
# PARAMS: more stack parameters for deploy, KEY=VALUE words.
BIN ?=
PARAMS ?=
LAMBDA_BIN = $(or $(BIN),handler)
ifeq ($(LAMBDA_BIN),shop-handler)
PACKAGE ?= shop-worker
CRATE ?= examples/shop/worker
endif
PACKAGE ?= $(LAMBDA_BIN)
CRATE ?= $(PACKAGE)

# cargo-lambda cross-compiles with zig, both from .venv/lambda. The Lambda build
# optimizes for size (LAMBDA_OPT_LEVEL, README "Performance": the zip and the cold
# start); the x86-64 release binaries keep opt-level 3.
LAMBDA_OPT_LEVEL ?= s
# LAMBDA_FEATURES=cloudwatch builds with the package's default features off but
# these (the handler without `http`: no HTTP calls, a smaller zip).
LAMBDA_FEATURES ?=
build-lambda: local-install
	rustup target add aarch64-unknown-linux-gnu
	CARGO_PROFILE_RELEASE_OPT_LEVEL=$(LAMBDA_OPT_LEVEL) PATH="$(CURDIR)/$(LAMBDA_TOOLS):$$PATH" cargo-lambda lambda build --release --arm64 -p $(PACKAGE) --bin $(LAMBDA_BIN) $(if $(LAMBDA_FEATURES),--no-default-features --features $(LAMBDA_FEATURES)) --output-format zip
	@ls -l target/lambda/$(LAMBDA_BIN)/bootstrap.zip | awk '{ printf "target/lambda/$(LAMBDA_BIN)/bootstrap.zip: %.1f MB (%d bytes)\n", $$5 / 1048576, $$5 }'

# sam build + sam deploy with the same binary (see infra/deploy.sh). The first
# deploy asks for the stack's parameters and saves them in infra/samconfig.toml;
# later ones reuse them, with what BIN and PARAMS change.
deploy: local-install
	rustup target add aarch64-unknown-linux-gnu
	CARGO_PROFILE_RELEASE_OPT_LEVEL=$(LAMBDA_OPT_LEVEL) BIN='$(BIN)' CRATE='$(if $(BIN),$(CRATE))' PARAMS='$(PARAMS)' infra/deploy.sh

build:
	$(CARGO) build --workspace --all-targets --locked

unit:
	$(CARGO) test --workspace --locked --lib --bins --test schema --test faults --test dependencies --test metrics --test http_guard

# The benchmark (bench/README.md): builds the release binaries (and the arm64 zip unless
# BENCH_SKIP_ZIP=1), then runs bench/run.py, under a local AWS when section A runs.
bench:
	BENCH_COMMAND="$${BENCH_COMMAND:-make bench}" CARGO="$(CARGO)" bench/bench.sh

# Clean builds, one after the other: run it on a quiet machine.
build-times:
	CARGO="$(CARGO)" bench/build_times.sh

local-install:
	$(LOCAL) install

# Debian's chromium and chromedriver, for the console's browser test.
browser-install:
	$(LOCAL) browser

local-up:
	$(LOCAL) up

local-down:
	$(LOCAL) down

clean-local: local-down
	rm -rf .venv .local
