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
cargo test --workspace
