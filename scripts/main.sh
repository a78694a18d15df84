#!/usr/bin/env bash
# The main job on a fresh machine: set up, check the core against the f64 reference, train
# the TF.js tutorial's network on MNIST (and every board's bundle), evaluate it, and run it
# with its test digits on a Cortex-M4F (STM32F405) in qemu, which checks its outputs
# against the host's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${MICRODENSE_DATA:-}" ]; then
    if [ -d ../shared/data/mnist ]; then
        MICRODENSE_DATA="$(cd ../shared/data/mnist && pwd)"
    else
        MICRODENSE_DATA="$PWD/data/mnist"
    fi
fi
export MICRODENSE_DATA
cargo build --release --workspace # --workspace: the same build test.sh reuses
md=target/release/microdense
"$md" fetch --dir "$MICRODENSE_DATA" # verifies the files; downloads only what is missing

"$md" check
# The tutorial's model and every board's bundle (the ones test.sh and CI run).
bash scripts/bundles.sh
"$md" eval --model target/model.mdw
cd firmware && cargo run --release
