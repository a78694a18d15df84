#!/usr/bin/env bash
# The fused multiply-add measurement of docs/numerics.md, reproduced: builds the host and
# the firmware as they are (multiply, then add) and with bench/fma/fused.patch applied
# (every sum of the f32 kernels fused: FMA3 on x86-64, `vfma.f32` on the Cortex-M4F, a
# correctly rounded software fmaf elsewhere), prints each chip's instructions per
# training sample and per inference, replays the fused chips' training on the fused host
# (same bits?), then runs bench/fma/pc.sh on the two host binaries.
#   bash bench/fma/run.sh           # software fmaf: ours (kernels/fused.rs in the patch)
#   SOFT=libm bash bench/fma/run.sh # software fmaf: the libm crate's
# The patch is against d3646c6's core/src/kernels (`git worktree add DIR d3646c6` if it
# no longer applies). core/ must have no uncommitted changes: the script applies the patch
# in place and restores core/ on exit. Needs the bundles (bash scripts/bundles.sh) and
# MICRODENSE_DATA (the MNIST folder) for the PC bench; takes about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_INCREMENTAL=0
patch=bench/fma/fused.patch out=target/fma-probe
git diff --quiet -- core || { echo "error: core/ has uncommitted changes; commit or stash them first" >&2; exit 1; }
git apply --check "$patch" || { echo "error: $patch does not apply here; run this in a checkout of d3646c6" >&2; exit 1; }
mkdir -p "$out"
restore() { git checkout -q -- core; rm -f core/src/kernels/fused.rs; }
trap restore EXIT

chips() { # $1: label
    (
        cd firmware
        for run in "stm32f405 run --release" "stm32f405 run --release --bin train" \
            "lm3s6965 run --release" "lm3s6965 run --profile small --bin train" \
            "qemu-riscv32 run --release" "qemu-riscv32 run --release --bin train" \
            "microbit run --release --bin train"; do
            # A fused demo's verdict is FAIL: its bundle holds the unfused host's logits.
            # shellcheck disable=SC2086
            { cargo $run 2>&1 || true; } | grep -E "^(cost per|digest|verdict)" | sed "s|^|$1: $run: |"
        done
    )
}

cargo build --release -q -p microdense-host
cp target/release/microdense "$out/microdense-plain"
chips plain

git apply "$patch"
if [ "${SOFT:-ours}" = libm ]; then
    sed -i 's/soft_fmaf(x, w, acc)/libm::fmaf(x, w, acc)/' core/src/kernels/fused.rs
fi
# The software fmaf (ours and libm's) against the CPU's FMA3 on 20 million operands.
cargo test --release -q -p microdense --lib fused 2>&1 | grep -E "^test |test result"
cargo build --release -q -p microdense-host
cp target/release/microdense "$out/microdense-fused"
chips "fused (${SOFT:-ours})"
# The fused chips' training against the fused host's replay of it.
for board in stm32f405 qemu-riscv32; do
    (cd firmware && cargo "$board" run --release --bin train >/dev/null 2>&1) || true
    { "$out/microdense-fused" replay-chip --bundle target/firmware-bundle/bundle.bin \
        --board "$board" --chip "target/chip/$board/train.mdw" 2>&1 || true; } |
        grep -E "^chip's model" | sed "s|^|fused replay, $board: |"
done
# The Cortex-M4F's fused code with vmla in place of vfma: the same instructions, unfused.
sed -i 's/vfma\.f32/vmla.f32/' core/src/kernels/arm_f32.rs core/src/kernels/fused.rs
(
    cd firmware
    for run in "stm32f405 run --release" "stm32f405 run --release --bin train"; do
        # shellcheck disable=SC2086
        { cargo $run 2>&1 || true; } | grep -E "^(cost per|digest)" | sed "s|^|fused shape, vmla: $run: |"
    done
)
restore
trap - EXIT
# Leave target/ with the unpatched host and firmware builds, for whatever runs next.
cargo build --release -q -p microdense-host
(cd firmware && cargo stm32f405 build --release -q --bins && cargo qemu-riscv32 build --release -q --bins)
bash bench/fma/pc.sh "$out/microdense-plain" "$out/microdense-fused" "${ROUNDS:-5}"
