#!/usr/bin/env bash
# Denoising MLP autoencoder (784-512-128-64, sigmoid), masking noise 0.3, 20 epochs on full MNIST.
set -euo pipefail
: "${JAXAE_DATA_DIR:?set JAXAE_DATA_DIR to the folder holding mnist/}"
out="${1:-runs}"
time jaxae train dae --data mnist --epochs 20 --noise masking --noise-level 0.3 --workdir "$out/dae-mnist" --no-progress
jaxae sample --run "$out/dae-mnist"
