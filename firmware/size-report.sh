#!/bin/sh
# Flash and RAM of each board's build (every boards/*/board.toml), code apart from weights
# (llvm-size from `rustup component add llvm-tools`). Builds each board's `programs`
# (demo and train in release, demo-int8 in the size-optimized `small` profile) just before
# measuring them, as boards sharing a target share its output folder; each needs its
# bundle (see build/main.rs; MICRODENSE_BUNDLE=... for an int8 one).
# Usage: ./size-report.sh [--no-build] [BOARD...]
#   flash code    .vector_table + .text + .rodata + .data's initial values
#   flash model   .model: the compiled-in weights blob
#   flash digits  .digits: bundled test/training digits and host logits
#   RAM static    .data + .bss + .uninit (the stack takes the rest; the programs print its peak)
#   WEIGHTS       the flash region reserved for a model written apart from the program
set -eu
cd "$(dirname "$0")"
size=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-size
[ -x "$size" ] || { echo "size-report.sh: no llvm-size; run: rustup component add llvm-tools" >&2; exit 1; }
build=yes
if [ "${1:-}" = "--no-build" ]; then build=; shift; fi
[ $# -gt 0 ] || set -- $(cd boards && for b in */board.toml; do echo "${b%/board.toml}"; done)
dir=${CARGO_TARGET_DIR:-target}

# A top-level key of boards/$1/board.toml: a string's text, a list's words.
key() {
  sed -n "s/^$2 *= *//p" "boards/$1/board.toml" | head -n 1 | tr -d '[]",'
}

# LENGTH of region $2 in boards/$1/memory.x, in bytes.
region() {
  sed -n "s/^ *$2 *: *ORIGIN *= *[0-9A-Fa-fx]*, *LENGTH *= *\([0-9]*\)\([KM]\{0,1\}\).*/\1 \2/p" "boards/$1/memory.x" |
    awk '{ print $1 * ($2 == "K" ? 1024 : $2 == "M" ? 1048576 : 1) }'
}

printf '%-13s %-9s %10s %10s %10s %10s %9s %10s %9s %9s\n' \
  board binary code model digits 'flash' 'of FLASH' 'RAM stat' 'of RAM' WEIGHTS
for board in "$@"; do
  target=$(key "$board" targets | awk '{ print $1 }')
  programs=$(key "$board" programs)
  features=$(key "$board" features | tr ' ' ',')
  flash=$(region "$board" FLASH); ram=$(region "$board" RAM); weights=$(region "$board" WEIGHTS)
  for bin in $programs; do
    profile=release
    [ "$bin" = demo-int8 ] && profile=small
    if [ -n "$build" ]; then
      cargo "$board" build -q --profile "$profile" --bin "$bin" ${features:+--features "$features"} ||
        { echo "$board $bin: build failed"; continue; }
    fi
    elf=$dir/$target/$profile/$bin
    [ -f "$elf" ] || { echo "$board $bin: not built ($elf)"; continue; }
    "$size" -A -d "$elf" | awk -v board="$board" -v bin="$bin" -v flash="$flash" -v ram="$ram" -v weights="$weights" '
      function kib(b) { return sprintf("%.1fK", b / 1024) }
      $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" || $1 == ".gnu.sgstubs" || $1 == ".boot2" { code += $2 }
      $1 == ".data" { code += $2; stat += $2 }
      $1 == ".model" { model = $2 }
      $1 == ".digits" { digits = $2 }
      $1 == ".bss" || $1 == ".uninit" { stat += $2 }
      END {
        total = code + model + digits
        printf "%-13s %-9s %10s %10s %10s %10s %8.1f%% %10s %8.1f%% %9s\n", board, bin, kib(code), kib(model),
          kib(digits), kib(total), 100 * total / flash, kib(stat), 100 * stat / ram, kib(weights)
      }'
  done
done
