# Entry points. `make test` and `make local-up` install what they need
# (pinned Python tools in .venv/) and start what they need (on 127.0.0.1).

SHELL := /bin/bash
CARGO ?= cargo
LOCAL := infra/local/local.sh

.PHONY: help demo test load lint lint-template build bins unit build-lambda deploy local-up local-down local-install clean-local

help:
	@echo "make demo        the main job end to end: a mail, an upload, a delayed job and a poison"
	@echo "                 message through a local AWS it starts and stops"
	@echo "make test        lint, build, then every test against a local AWS it starts and stops"
	@echo "make local-up    start LocalStack (SQS, S3, CloudFormation) and moto (SES v2), deploy"
	@echo "                 infra/template.yaml, write .local/env (source it: . .local/env)"
	@echo "make local-down  stop them"
	@echo "make build-lambda  the arm64 Lambda zip (target/lambda/handler/bootstrap.zip)"
	@echo "make deploy      sam build + sam deploy to your AWS account (guided the first time)"
	@echo "make unit        the tests that need no AWS"
	@echo "make load        only the fault and load test, with its figures (LOAD_JOBS=2000,"
	@echo "                 LOAD_FAULTS_PER_MILLE=100)"
	@echo "LOCAL_AWS=docker make local-up   runs the pinned LocalStack image instead (needs Docker)"

demo: bins local-install
	infra/local/demo.sh

bins:
	$(CARGO) build --workspace --bins --locked

test: lint build local-install
	$(LOCAL) run $(CARGO) test --workspace --locked

# The fault and load test alone (it also runs in `make test`), printing its figures.
load: build local-install
	$(LOCAL) run $(CARGO) test -p integration-tests --test load --locked -- --nocapture

lint: lint-template
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

TOOLS := .venv/tools/bin
LAMBDA_TOOLS := .venv/lambda/bin

lint-template: local-install
	$(TOOLS)/cfn-lint infra/template.yaml
	$(TOOLS)/sam validate --lint --template-file infra/template.yaml --region us-east-1

# cargo-lambda cross-compiles with zig, both from .venv/lambda.
build-lambda: local-install
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(LAMBDA_TOOLS):$$PATH" cargo-lambda lambda build --release --arm64 -p handler --output-format zip
	@ls -l target/lambda/handler/bootstrap.zip | awk '{ printf "target/lambda/handler/bootstrap.zip: %.1f MB (%d bytes)\n", $$5 / 1048576, $$5 }'

# The first deploy asks for the stack's parameters and saves them in
# infra/samconfig.toml; later ones reuse them.
deploy: local-install
	rustup target add aarch64-unknown-linux-gnu
	cd infra && PATH="$(CURDIR)/$(LAMBDA_TOOLS):$(CURDIR)/$(TOOLS):$$PATH" sam build --beta-features
	cd infra && if grep -q '^parameter_overrides' samconfig.toml; then \
	  PATH="$(CURDIR)/$(TOOLS):$$PATH" sam deploy; \
	else \
	  PATH="$(CURDIR)/$(TOOLS):$$PATH" sam deploy --guided; \
	fi

build:
	$(CARGO) build --workspace --all-targets --locked

unit:
	$(CARGO) test --workspace --locked --lib --bins --test schema --test faults

local-install:
	$(LOCAL) install

local-up:
	$(LOCAL) up

local-down:
	$(LOCAL) down

clean-local: local-down
	rm -rf .venv .local
