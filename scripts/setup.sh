#!/usr/bin/env bash
# Installs what builds, tests and the firmware demos need on a fresh machine. Idempotent.
# Never removes or downgrades a package: apt is told --no-remove (it fails rather than
# remove anything), and the qemu system packages are asked for at the version of the qemu
# packages already installed, from the suite they came from.
set -euo pipefail
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi thumbv8m.main-none-eabihf \
    riscv32imac-unknown-none-elf
rustup component add llvm-tools rustfmt clippy
# qemu-system-arm runs the Cortex-M boards, qemu-system-misc has qemu-system-riscv32.
if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    pkgs=(qemu-system-arm qemu-system-misc)
    suite=()
    have=""
    while IFS= read -r line; do
        if [ -n "$line" ]; then have=$line; break; fi
    done < <(dpkg-query -W -f='${Version}\n' qemu-system-common qemu-utils 2>/dev/null || true)
    if [ -n "$have" ]; then
        pkgs=("qemu-system-arm=$have" "qemu-system-misc=$have")
        # A bookworm-backports qemu (such as a machine image's newer qemu-utils): that
        # suite, on the machine's own Debian mirror, is added if missing and preferred, so
        # the matching qemu-system packages and their dependencies (opensbi) come from it.
        if [[ $have == *~bpo12* ]]; then
            if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d; then
                mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
                [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \([^ ]*\/debian\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
                printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                    "$mirror" | sudo_if_needed tee /etc/apt/sources.list.d/microdense-backports.sources >/dev/null
            fi
            suite=(-t bookworm-backports)
        fi
    fi
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y --no-install-recommends --no-remove "${suite[@]}" "${pkgs[@]}"
fi
