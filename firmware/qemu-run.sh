#!/bin/sh
# Cargo's runner (see .cargo/config.toml): boots ELF in qemu on the board named by
# MICRODENSE_BOARD (boards/$MICRODENSE_BOARD/board.toml: qemu, machine, qemu_args).
#   MICRODENSE_BOARD=lm3s6965 qemu-run.sh ELF
# Output comes over semihosting; qemu's exit code is the program's verdict.
# -icount shift=0 makes qemu count one nanosecond per instruction, which the firmware's
# meter turns into instruction counts. MICRODENSE_WEIGHTS=FILE loads FILE (a weights
# blob) into the WEIGHTS region named in the board's memory.x. qemu runs in the folder
# MICRODENSE_OUT (default ../target/chip/BOARD), where the training programs write their
# trained model over semihosting (train.mdw, finetune.mdw).
set -eu
here=$(dirname "$0")
board=${MICRODENSE_BOARD:-stm32f405}
elf=${1:?usage: MICRODENSE_BOARD=BOARD qemu-run.sh ELF}
dir=$here/boards/$board
[ -f "$dir/board.toml" ] || { echo "qemu-run.sh: unknown board $board (no $dir/board.toml)" >&2; exit 2; }
# A top-level string key of board.toml.
key() { sed -n "s/^$1 *= *\"\(.*\)\".*/\1/p" "$dir/board.toml" | head -n 1; }
machine=$(key machine)
[ -n "$machine" ] || { echo "qemu-run.sh: board $board is build-only (no qemu machine in its board.toml); flash it: docs/flashing.md" >&2; exit 2; }
qemu=$(key qemu)
absolute() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
# shellcheck disable=SC2046 # qemu_args is a list of words
set -- -machine "$machine" -nographic -monitor none -serial null \
  -semihosting-config enable=on,target=native -icount shift=0 $(key qemu_args)
if [ -n "${MICRODENSE_WEIGHTS:-}" ]; then
  addr=$(sed -n 's/^ *WEIGHTS *: *ORIGIN *= *\(0x[0-9A-Fa-f]*\).*/\1/p' "$dir/memory.x")
  set -- "$@" -device "loader,file=$(absolute "$MICRODENSE_WEIGHTS"),addr=$addr"
fi
out=${MICRODENSE_OUT:-$here/../target/chip/$board}
mkdir -p "$out"
elf=$(absolute "$elf")
cd "$out"
exec "${qemu:-qemu-system-arm}" "$@" -kernel "$elf"
