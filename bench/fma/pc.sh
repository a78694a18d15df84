#!/usr/bin/env bash
# Side-by-side `microdense bench` of two binaries A and B (bench/fma/run.sh passes
# mul-then-add and the fused prototype), alternating A, B, A, B... so that both see the
# same load. Each run's figure is its best repeat (other work on the machine only ever
# slows a repeat down); prints them and, per batch size, the best of each side and the
# median over rounds of B/A.
# Usage: bench/fma/pc.sh A B [ROUNDS] [BATCHES]   (MICRODENSE_DATA: the MNIST folder)
set -euo pipefail
a=$1 b=$2 rounds=${3:-5} batches=${4:-16 64}
best() {
    "$1" bench --batch "$2" --steps "$((16000 / $2))" --repeats 25 --json | python3 -c \
        'import json,sys; print(int(max(r["samples_per_second"] for r in json.load(sys.stdin)["repeats"])))'
}
for batch in $batches; do
    ra=() rb=()
    for _ in $(seq "$rounds"); do
        ra+=("$(best "$a" "$batch")")
        rb+=("$(best "$b" "$batch")")
        echo "batch $batch: A ${ra[-1]}, B ${rb[-1]} samples/s"
    done
    python3 - "${ra[*]}" "${rb[*]}" "$batch" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
r = sorted(y / x for x, y in zip(a, b))
print(f"batch {sys.argv[3]}: best A {max(a):,.0f}, best B {max(b):,.0f} samples/s "
      f"(B/A {max(b) / max(a):.3f}); B/A per round {', '.join(f'{x:.3f}' for x in r)}, "
      f"median {statistics.median(r):.3f}")
PY
done
