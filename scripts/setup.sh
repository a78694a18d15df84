#!/usr/bin/env bash
# Installs what builds, tests and the firmware demo need on a fresh machine. Idempotent.
# Never removes or downgrades a package: apt is told --no-remove (it fails rather than
# remove anything), and if other qemu packages are installed, qemu-system-arm is asked
# for at their version, from the suite they came from.
set -euo pipefail
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi
rustup component add llvm-tools rustfmt clippy
# Nightly for the fuzz smoke run (cargo-fuzz) and miri over the core's unsafe code.
rustup toolchain install nightly --profile minimal --component miri,rust-src
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if ! command -v qemu-system-arm >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    pkg=qemu-system-arm
    have=""
    while IFS= read -r line; do
        if [ -n "$line" ]; then have=$line; break; fi
    done < <(dpkg-query -W -f='${Version}\n' qemu-system-common qemu-utils 2>/dev/null || true)
    if [ -n "$have" ]; then pkg="qemu-system-arm=$have"; fi
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y --no-install-recommends --no-remove "$pkg"
fi
