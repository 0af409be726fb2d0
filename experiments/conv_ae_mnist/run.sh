#!/usr/bin/env bash
# The chapter's convolutional autoencoder, exactly its layers and optimizer, 10 epochs on full MNIST.
set -euo pipefail
: "${JAXAE_DATA_DIR:?set JAXAE_DATA_DIR to the folder holding mnist/}"
out="${1:-runs}"
time jaxae train conv-ae --data mnist --epochs 10 --workdir "$out/conv-ae-mnist" --no-progress
jaxae sample --run "$out/conv-ae-mnist"
