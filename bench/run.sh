#!/usr/bin/env bash
# microdense against PyTorch on one core (issue 5): training throughput of the tutorial's
# network at batch 16 and 64, and the time the README's 98% command takes to reach 98.0%
# test accuracy, against the same recipe in PyTorch. Both sides read the same MNIST files.
#
#   bench/run.sh [ROUNDS]        (default 3)
#
# Each round runs microdense then PyTorch for each measurement, so that load from other
# work on the machine falls on both sides alike; the table gives medians over all repeats
# of all rounds, and the load average seen during the run. Raw JSON goes to target/bench/.
#
# Needs python3 (with venv) and pip access to PyPI: installs torch and numpy into
# target/bench-venv (about 5 GB: the PyPI wheel of torch pulls in the CUDA libraries, which
# it loads at import even on a CPU-only machine). MNIST from $MICRODENSE_DATA, else
# data/mnist (`microdense fetch`). $MICRODENSE overrides the binary (default: a release
# build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DATA=${MICRODENSE_DATA:-data/mnist}
VENV=target/bench-venv
OUT=target/bench
PY=$VENV/bin/python

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet torch numpy
fi
if [ -z "${MICRODENSE:-}" ]; then
  cargo build --release -q --workspace
  MICRODENSE=target/release/microdense
fi
rm -rf "$OUT"
mkdir -p "$OUT"
# One thread for PyTorch's OpenMP/MKL pools too (bench.py also calls set_num_threads(1)).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

load() { cut -d' ' -f1 /proc/loadavg >> "$OUT/load"; }
RECIPE=(--hidden 128 --activation relu --init he --batch 64 --momentum 0.9 --lr 0.1
        --schedule cosine --epochs 10 --weight-decay 1e-4)

echo "f64 reference check (microdense check) ..." >&2
"$MICRODENSE" check --data "$DATA" --json > "$OUT/check.json" && echo 0 > "$OUT/check.status" ||
  echo $? > "$OUT/check.status"
for round in $(seq "$ROUNDS"); do
  for batch in 16 64; do
    echo "round $round/$ROUNDS: throughput at batch $batch ..." >&2
    load; "$MICRODENSE" bench --data "$DATA" --batch "$batch" --json > "$OUT/md-b$batch-$round.json"
    load; "$PY" bench/pytorch/bench.py --data "$DATA" --json throughput --batch "$batch" \
      > "$OUT/pt-b$batch-$round.json"
  done
  echo "round $round/$ROUNDS: time to 98% ..." >&2
  load; "$MICRODENSE" train --data "$DATA" "${RECIPE[@]}" --target-accuracy 0.98 --json --quiet \
    --out "$OUT/recipe.mdw" > "$OUT/md-recipe-$round.json"
  load; "$PY" bench/pytorch/bench.py --data "$DATA" --json recipe --epochs 10 --target 0.98 \
    > "$OUT/pt-recipe-$round.json"
done
load
"$PY" bench/report.py "$OUT" "$ROUNDS"
