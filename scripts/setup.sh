#!/usr/bin/env bash
# Installs what builds, tests and the firmware demo need on a fresh machine. Idempotent.
set -euo pipefail
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi thumbv8m.main-none-eabihf
rustup component add llvm-tools rustfmt clippy
if ! command -v qemu-system-arm >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y --no-install-recommends --no-remove qemu-system-arm
fi
