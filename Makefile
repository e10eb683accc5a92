# The two commands a newcomer needs:
#   make run    set up what is missing, build, and run hearken's main job on the embedded defaults
#   make test   the same set-up, then every lint and test
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)
export HEARKEN_MODELS_DIR := $(ROOT)/.hearken/models
CONFIG ?= config/dev.toml

.PHONY: run test setup build lint lint-systemd unit bench clean

setup:
	scripts/setup

build: setup
	cargo build --release --locked

run: build
	scripts/demo $(CONFIG)

lint: setup
	cargo fmt --all --check
	cargo clippy --all-targets --locked -- -D warnings

unit: setup
	trap 'scripts/local-llm stop' EXIT; cargo test --locked --no-fail-fast

# systemd/: offline security score (at most 1.7), verify, sysusers and tmpfiles.
lint-systemd: setup
	scripts/lint-systemd

test: lint lint-systemd unit

bench: setup
	scripts/setup --reference
	scripts/bench

clean:
	cargo clean
	rm -rf .hearken/run
