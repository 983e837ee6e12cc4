# Entry points. `make test` and `make local-up` install what they need
# (pinned Python tools in .venv/) and start what they need (on 127.0.0.1).

SHELL := /bin/bash
CARGO ?= cargo
LOCAL := infra/local/local.sh

.PHONY: help demo test lint build bins unit local-up local-down local-install clean-local

help:
	@echo "make demo        the main job end to end: a mail, an upload, a delayed job and a poison"
	@echo "                 message through a local AWS it starts and stops"
	@echo "make test        lint, build, then every test against a local AWS it starts and stops"
	@echo "make local-up    start LocalStack (SQS, S3, CloudFormation) and moto (SES v2), deploy"
	@echo "                 infra/template.yaml, write .local/env (source it: . .local/env)"
	@echo "make local-down  stop them"
	@echo "make unit        the tests that need no AWS"
	@echo "LOCAL_AWS=docker make local-up   runs the pinned LocalStack image instead (needs Docker)"

demo: bins local-install
	infra/local/demo.sh

bins:
	$(CARGO) build --workspace --bins --locked

test: lint build local-install
	$(LOCAL) run $(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

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
