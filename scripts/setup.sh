#!/usr/bin/env bash
# Installs what builds, tests and the firmware demo need on a fresh machine. Idempotent.
# Never removes or downgrades a package: apt is told --no-remove (it fails rather than
# remove anything), and if other qemu packages are installed, the qemu system packages are
# asked for at their version, from the suite they came from.
set -euo pipefail
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi thumbv8m.main-none-eabihf \
    riscv32imac-unknown-none-elf
rustup component add llvm-tools rustfmt clippy
# Nightly for the fuzz smoke run (cargo-fuzz) and miri over the core's unsafe code.
rustup toolchain install nightly --profile minimal --component miri,rust-src
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# qemu-system-misc has qemu-system-riscv32 (the RISC-V board).
if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    pkgs=(qemu-system-arm qemu-system-misc)
    have=""
    while IFS= read -r line; do
        if [ -n "$line" ]; then have=$line; break; fi
    done < <(dpkg-query -W -f='${Version}\n' qemu-system-common qemu-utils 2>/dev/null || true)
    if [ -n "$have" ]; then pkgs=("qemu-system-arm=$have" "qemu-system-misc=$have"); fi
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y --no-install-recommends --no-remove "${pkgs[@]}"
fi
