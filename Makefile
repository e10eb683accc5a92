# The two commands a newcomer needs:
#   make run    set up what is missing, build, and run hearken's main job on the embedded defaults
#   make test   the same set-up, then every lint and test
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)
export HEARKEN_MODELS_DIR := $(ROOT)/.hearken/models
CONFIG ?= config/dev.toml

.PHONY: run test setup build lint lint-systemd lint-deb unit soak soak-short bench clean deb deb-check

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

# debian/ and the package metadata, without building the package (`make deb-check` does).
lint-deb:
	scripts/lint-deb

# scripts/soak: turns through one daemon (wake word, follow-up, button, barge-in, LLM faults)
# on the real models and LLM server; answered/failed by class, RSS/threads/fds every 50 turns,
# latency at the start and the end. `make soak` is the full 500 turns on the release build;
# `make test` runs 100 on the test build.
soak: build
	trap 'scripts/local-llm stop' EXIT; scripts/soak 500

soak-short: setup
	cargo build --locked
	trap 'scripts/local-llm stop' EXIT; \
	  scripts/soak 100 --bin "$${CARGO_TARGET_DIR:-target}/debug/hearken" \
	  --report .hearken/run/soak-short-report.txt

test: lint lint-systemd lint-deb unit soak-short

# The Debian package, hearken_<version>_<arch>.deb, in $CARGO_TARGET_DIR (or target)/debian/.
# Set-up adds cargo-deb and lintian (`scripts/setup --deb`).
deb:
	scripts/setup --deb
	scripts/deb

# The package checked: contents, Depends, maintainer scripts, lintian (no errors), and the
# unpacked binary's `hearken check` on the packaged config and libraries. Not part of
# `make test` (which runs lint-deb): the release build and cargo-deb it needs took 20 min
# here on two shared cores (about 9 min of CPU), more than the suite's budget allows.
deb-check:
	scripts/setup --deb
	scripts/check-deb

bench: setup
	scripts/setup --reference
	scripts/bench

clean:
	cargo clean
	rm -rf .hearken/run
