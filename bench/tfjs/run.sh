#!/usr/bin/env bash
# TF.js interop bench: trains the tutorial's network with @tensorflow/tfjs in Node,
# imports it into microdense from both layouts (browser save and converter shards),
# evaluates it, exports it back and has tf.loadLayersModel load the export.
#
#   bench/tfjs/run.sh [BATCHES]       (default 100, the tutorial's run)
#
# Needs node and npm; installs the pinned @tensorflow/tfjs (pure JS) into bench/tfjs.
# MNIST from $MICRODENSE_DATA, else data/mnist (`microdense fetch`).
# $MICRODENSE overrides the microdense binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCHES=${1:-100}
DATA=${MICRODENSE_DATA:-data/mnist}
WORK=target/tfjs-bench
OUT=$WORK/out

mkdir -p "$OUT"
bash bench/tfjs/install.sh
if [ -z "${MICRODENSE:-}" ]; then
  cargo build --release -q --workspace
  MICRODENSE=target/release/microdense
fi
JS="node bench/tfjs/tutorial.js"

# TF.js greets Node users on stderr; keep its output to our lines.
$JS train "$DATA" "$OUT" "$BATCHES" 2> >(grep -v -e '^$' -e '====' -e 'tfjs-node' -e 'Hi, looks like' >&2)
status=0
for layout in browser sharded; do
  "$MICRODENSE" import-tfjs "$OUT/$layout/model.json" --out "$OUT/$layout.mdw"
  "$MICRODENSE" eval --data "$DATA" --model "$OUT/$layout.mdw" --json > "$OUT/$layout-eval.json"
  $JS compare-eval "$OUT" "$OUT/$layout-eval.json" || status=1
done
"$MICRODENSE" export-tfjs "$OUT/browser.mdw" --out "$OUT/exported"
if cmp -s "$OUT/browser/model.weights.bin" "$OUT/exported/model.weights.bin"; then
  echo "export: model.weights.bin is byte-identical to TF.js's own save"
else
  echo "export: model.weights.bin differs from TF.js's own save"; status=1
fi
"$MICRODENSE" export-tfjs "$OUT/browser.mdw" --like "$OUT/browser/model.json" --out "$OUT/exported-like"
if cmp -s "$OUT/browser/model.weights.bin" "$OUT/exported-like/model.weights.bin" &&
   node -e 'const [a, b] = process.argv.slice(1).map((f) => require(f).modelTopology);
            process.exit(require("util").isDeepStrictEqual(a, b) ? 0 : 1)' \
     "$PWD/$OUT/browser/model.json" "$PWD/$OUT/exported-like/model.json"; then
  echo "export --like: the same modelTopology (names, initializers) and weights as TF.js's own save"
else
  echo "export --like: differs from TF.js's own save"; status=1
fi
$JS check "$DATA" "$OUT/exported" "$OUT" 2> >(grep -v -e '^$' -e '====' -e 'tfjs-node' -e 'Hi, looks like' >&2) || status=1
exit $status
