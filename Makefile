# The two commands a newcomer needs:
#   make run    set up what is missing, build, and run hearken's main job on the embedded defaults
#   make test   the same set-up, then every lint and test
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)
export HEARKEN_MODELS_DIR := $(ROOT)/.hearken/models
CONFIG ?= config/dev.toml

.PHONY: run test setup build lint lint-systemd lint-deb unit bench clean deb deb-check fuzz

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

test: lint lint-systemd lint-deb unit

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

# Fuzzing (daemon/tests/fuzz): each target for FUZZ_SECONDS, one after another, printing its
# time and executions; failing inputs land in $CARGO_TARGET_DIR/fuzz/<target>/. `make test`
# runs only the kept corpus (daemon/tests/fuzz/corpus), in seconds.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= config wav llm_stream chunker speakable phonemize
fuzz: setup
	cargo test --locked --test fuzz --no-run
	status=0; for target in $(FUZZ_TARGETS); do \
	  FUZZ_TARGET=$$target FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    cargo test --locked --test fuzz -- --ignored --exact fuzz --nocapture --quiet || status=1; \
	done; exit $$status

bench: setup
	scripts/setup --reference
	scripts/bench

clean:
	cargo clean
	rm -rf .hearken/run
