#!/usr/bin/env bash
# The chapter's standard autoencoder on full MNIST, 10 epochs (about 10 s of training on 2 CPU cores).
set -euo pipefail
: "${JAXAE_DATA_DIR:?set JAXAE_DATA_DIR to the folder holding mnist/}"
workdir="${1:-runs/ae-mnist}"
jaxae train ae --data mnist --epochs 10 --workdir "$workdir"
cp "$workdir"/images/epoch_001.png "$workdir"/images/epoch_010.png "$workdir"/loss_curve.png "$workdir"/metrics.jsonl "$(dirname "$0")"/
