#!/usr/bin/env bash
# The firmware bundles CI and the chip tests run: the tutorial's network for the STM32F405
# (and the boards that share its bundle), a smaller relu network for the LM3S6965 and the
# micro:bit (the tutorial's 141 KiB of weights do not fit their flash), and the tutorial's
# network quantized to int8 (3 digits for the 48 KiB build). Models go to target/*.mdw,
# bundles to target/firmware-bundle/. MNIST from MICRODENSE_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
# --workspace: the features `cargo test --workspace --release` resolves, so the tests
# reuse this build instead of compiling every crate again.
cargo build --release --workspace
md() { target/release/microdense "$@"; }
md train --quiet --out target/model.mdw
md export --model target/model.mdw --firmware --digits 100 --train-digits 500 \
    --out target/firmware-bundle/bundle.bin
md train --quiet --hidden 16 --activation relu --epochs 1 --out target/model-small.mdw
md export --model target/model-small.mdw --firmware --digits 50 --train-digits 410 \
    --out target/firmware-bundle/bundle-lm3s6965.bin
md quantize --model target/model.mdw --out target/model-int8.mdw
md export --model target/model-int8.mdw --firmware --digits 100 --train-digits 0 \
    --out target/firmware-bundle/bundle-int8.bin
md export --model target/model-int8.mdw --firmware --digits 3 --train-digits 0 \
    --out target/firmware-bundle/bundle-int8-slim.bin
