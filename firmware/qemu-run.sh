#!/bin/sh
# Cargo's runner (see .cargo/config.toml): boots ELF on BOARD in qemu-system-arm.
#   qemu-run.sh BOARD ELF
# Output comes over semihosting; qemu's exit code is the program's verdict.
# -icount shift=0 makes qemu count one nanosecond per instruction, which the firmware's
# meter turns into instruction counts. MICRODENSE_WEIGHTS=FILE loads FILE (a weights
# blob) into the WEIGHTS region named in boards/BOARD/memory.x.
set -eu
here=$(dirname "$0")
board=${1:?usage: qemu-run.sh BOARD ELF}
elf=${2:?usage: qemu-run.sh BOARD ELF}
case $board in
  stm32f405) machine=netduinoplus2 ;;
  lm3s6965) machine=lm3s6965evb ;;
  *) echo "qemu-run.sh: unknown board $board" >&2; exit 2 ;;
esac
set -- -machine "$machine" -nographic -monitor none -serial null \
  -semihosting-config enable=on,target=native -icount shift=0
if [ -n "${MICRODENSE_WEIGHTS:-}" ]; then
  addr=$(sed -n 's/^ *WEIGHTS *: *ORIGIN *= *\(0x[0-9A-Fa-f]*\).*/\1/p' "$here/boards/$board/memory.x")
  set -- "$@" -device "loader,file=$MICRODENSE_WEIGHTS,addr=$addr"
fi
exec qemu-system-arm "$@" -kernel "$elf"
