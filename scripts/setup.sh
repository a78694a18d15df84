#!/usr/bin/env bash
# Installs what builds, tests and the firmware demo need on a fresh machine. Idempotent.
set -euo pipefail
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi thumbv8m.main-none-eabihf \
    riscv32imac-unknown-none-elf
rustup component add llvm-tools rustfmt clippy
# qemu-system-misc has qemu-system-riscv32 (the RISC-V board).
if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y --no-install-recommends --no-remove qemu-system-arm qemu-system-misc
fi
