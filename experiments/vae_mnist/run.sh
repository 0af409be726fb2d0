#!/usr/bin/env bash
# The chapter's VAE (784-400-20) and the same network trained as an IWAE (k=5, k=10), 300 epochs each on
# dynamically binarized full MNIST, then the k=5000 importance-sampled test NLL of both.
set -euo pipefail
: "${JAXAE_DATA_DIR:?set JAXAE_DATA_DIR to the folder holding mnist/}"
out="${1:-runs}"
common=(--data mnist --epochs 300 --learning-rate 1e-3 --checkpoint-every 25 --no-progress)
time jaxae train vae "${common[@]}" --workdir "$out/vae-mnist"
time jaxae train iwae "${common[@]}" --samples 5 --workdir "$out/iwae-mnist"
time jaxae train iwae "${common[@]}" --samples 10 --workdir "$out/iwae10-mnist"
time jaxae eval --run "$out/vae-mnist" --k 5000
time jaxae eval --run "$out/iwae-mnist" --k 5000
time jaxae eval --run "$out/iwae10-mnist" --k 5000
jaxae sample --run "$out/vae-mnist"
