#!/usr/bin/env bash
# What the fuzz smoke run and miri need (CI runs it; scripts/setup.sh does not, so a
# user's set-up stays on the stable toolchain): nightly with miri and rust-src, cargo-fuzz.
set -euo pipefail
rustup toolchain install nightly --profile minimal --component miri,rust-src
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
