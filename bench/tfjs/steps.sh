#!/usr/bin/env bash
# Step-by-step agreement with TF.js: the tutorial's network (784→32→256→10, glorotNormal
# hidden layers, varianceScaling output, categoricalCrossentropy, SGD 0.15, batch 16) is
# built by TF.js, imported into microdense, and both train from those weights on the same
# batches (microdense draws them and writes their indices); after each of STEPS steps the
# weights are compared layer by layer, and the loss curves step by step.
#
#   bench/tfjs/steps.sh [STEPS] [TOLERANCE] [SEED]     (default 1,10,100  1e-5  1)
#
# $HIDDEN sets other hidden layers (default 32,256); $LOSS=fused trains microdense with
# its fused loss instead, to see what TF.js's clipped loss changes. $OPTIMIZER=adam trains
# both with Adam instead (tf.train.adam and --optimizer adam, lr $LR (default 0.001),
# betas 0.9 and 0.999, epsilon 1e-7: TF.js's defaults), in target/tfjs-steps-adam.
#
# Needs node and npm (installs the pinned @tensorflow/tfjs with npm ci), MNIST from
# $MICRODENSE_DATA, else data/mnist. $MICRODENSE overrides the microdense binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-1,10,100}
TOLERANCE=${2:-1e-5}
SEED=${3:-1}
DATA=${MICRODENSE_DATA:-data/mnist}
DIR=target/tfjs-steps
case "${OPTIMIZER:-sgd}" in
  sgd) OPT=(--lr "${LR:-0.15}"); SPEC="sgd:${LR:-0.15}" ;;
  adam)
    OPT=(--optimizer adam --lr "${LR:-0.001}" --beta1 0.9 --beta2 0.999 --epsilon 1e-7)
    SPEC="adam:${LR:-0.001}:0.9:0.999:1e-7"
    DIR=target/tfjs-steps-adam
    ;;
  *) echo "OPTIMIZER=$OPTIMIZER: expected sgd or adam" >&2; exit 1 ;;
esac
bash bench/tfjs/install.sh
if [ -z "${MICRODENSE:-}" ]; then
  cargo build --release -q --workspace
  MICRODENSE=target/release/microdense
fi
rm -rf "$DIR" && mkdir -p "$DIR"
# TF.js greets Node users on stderr; keep its output to our lines.
quiet() { "$@" 2> >(grep -v -e '^$' -e '====' -e 'tfjs-node' -e 'Hi, looks like' >&2); }
quiet node bench/tfjs/steps.js init "$DIR" "$SEED" "${HIDDEN:-32,256}"
"$MICRODENSE" import-tfjs "$DIR/initial/model.json" --out "$DIR/initial.mdw" >/dev/null
train() {
  "$MICRODENSE" train --quiet --data "$DATA" --from "$DIR/initial.mdw" --loss "${LOSS:-tfjs}" \
    --val-every 0 --seed "$SEED" --batches "$1" --out "$DIR/md-$1.mdw" "${OPT[@]}" "${@:2}"
}
for n in ${STEPS//,/ }; do
  train "$n" >/dev/null
  "$MICRODENSE" export-tfjs "$DIR/md-$n.mdw" --out "$DIR/md-$n" >/dev/null
done
last=${STEPS##*,}
train "$last" --json --write-batches "$DIR/batches.json" > "$DIR/md.json"
quiet node bench/tfjs/steps.js compare "$DIR" "$DATA" "$STEPS" "$TOLERANCE" "$SPEC"
