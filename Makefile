# The two commands a newcomer needs:
#   make run    set up what is missing, build, and run hearken's main job on the embedded defaults
#   make test   the same set-up, then every lint and test
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)
export HEARKEN_MODELS_DIR := $(ROOT)/.hearken/models
CONFIG ?= config/dev.toml

.PHONY: run test setup build lint lint-systemd lint-deb unit soak soak-short bench clean deb deb-check fuzz \
	cross cross-smoke cross-test image image-test

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
# `make test` runs 150 on the test build (drift from turn 100, where warm-up is over).
soak: build
	trap 'scripts/local-llm stop' EXIT; scripts/soak 500

soak-short: setup
	cargo build --locked
	trap 'scripts/local-llm stop' EXIT; \
	  scripts/soak 150 --bin "$${CARGO_TARGET_DIR:-target}/debug/hearken" \
	  --report .hearken/run/soak-short-report.txt

test: lint lint-systemd lint-deb unit soak-short

# The Debian package, hearken_<version>_<arch>.deb, in $CARGO_TARGET_DIR (or target)/debian/.
# Set-up adds cargo-deb and lintian (`scripts/setup --deb`).
# ARCH=arm64: the same package from the aarch64 build (cross/), in
# $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/debian/.
ARCH ?= $(shell dpkg --print-architecture)
deb:
	scripts/setup --deb $(if $(filter arm64,$(ARCH)),--cross)
	scripts/deb $(ARCH)

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

# The aarch64 build on this x86_64 host from Debian packages (cross/README.md):
# $CARGO_TARGET_DIR (or target)/aarch64-unknown-linux-gnu/release/hearken.
cross:
	scripts/setup --cross
	cross/build

# The aarch64 binary under qemu-user, compared with the x86_64 build on the same models and
# recordings (daemon/tests/cross_aarch64.rs).
cross-smoke: cross
	trap 'scripts/local-llm stop' EXIT; cargo test --locked --test cross_aarch64 -- --ignored

# Every test built for aarch64 and run under qemu-user (binfmt_misc, set up by
# scripts/setup --cross). Hours on two cores: not part of `make test`.
cross-test: cross
	trap 'scripts/local-llm stop' EXIT; source cross/env; \
	  cross_cargo test --locked --no-fail-fast --target $$CROSS_TARGET

# The SD-card image (image/): Debian 12 arm64 with the arm64 .deb, its models and first-boot
# set-up; $CARGO_TARGET_DIR/image/hearken-arm64.img.xz (+ .sha256). Root; tens of minutes.
image:
	scripts/setup --image --deb
	image/build "$$(scripts/deb arm64 | tail -n1)"

# Boots that image under qemu-system-aarch64 -M virt until hearken is READY, answers
# `hearken status` and holds a simulated turn (serial log: $CARGO_TARGET_DIR/image/boot-test.log).
image-test:
	scripts/setup --image
	trap 'scripts/local-llm stop' EXIT; image/boot-test

bench: setup
	scripts/setup --reference
	scripts/bench

clean:
	cargo clean
	rm -rf .hearken/run
