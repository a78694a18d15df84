#!/usr/bin/env bash
# Runs every test: core, CLI, reference agreement, and the firmware in qemu.
# MNIST comes from MICRODENSE_DATA, else ../shared/data/mnist beside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${MICRODENSE_DATA:-}" ] && [ -d ../shared/data/mnist ]; then
    MICRODENSE_DATA="$(cd ../shared/data/mnist && pwd)"
fi
export MICRODENSE_DATA
# The chip tests run the boards' firmware with the bundles CI makes: made when missing
# (they need MNIST; without it those tests say SKIPPED).
if [ -n "${MICRODENSE_DATA:-}" ]; then
    for b in bundle bundle-lm3s6965 bundle-int8 bundle-int8-slim; do
        [ -e "target/firmware-bundle/$b.bin" ] || { bash scripts/bundles.sh; break; }
    done
fi
# --release: the tests share every compiled crate with main.sh's and CI's `cargo build
# --release --workspace` (the same profile and features), instead of compiling all of them a
# second time in the test profile. Overflow checks are left to miri and the fuzz targets.
cargo test --workspace --release
