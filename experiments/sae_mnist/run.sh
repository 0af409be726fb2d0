#!/usr/bin/env bash
# Two sparse autoencoders on full MNIST: one on the pixels, one on the 64-d codes of an autoencoder
# (written by `jaxae activations`); the pictures of both, and their metrics, are copied here.
set -euo pipefail
: "${JAXAE_DATA_DIR:?set JAXAE_DATA_DIR to the folder holding mnist/}"
out="${1:-runs/sae-mnist}"
here="$(dirname "$0")"
jaxae train sae --data mnist --arch topk --k 32 --width 1024 --epochs 5 --workdir "$out/pixels"
jaxae sample --run "$out/pixels" --n 16
jaxae train ae --data mnist --hidden 256 --latent 64 --epochs 10 --workdir "$out/ae64"
jaxae activations --run "$out/ae64" --layer code --out "$out/ae64-codes"
jaxae train sae --data "shards:$out/ae64-codes" --arch batchtopk --k 8 --width 512 --epochs 5 --workdir "$out/codes"
jaxae sample --run "$out/codes" --n 16
cp "$out/pixels/samples/atoms.png" "$here/pixels_atoms.png"
cp "$out/pixels/samples/top_activating.png" "$here/pixels_top_activating.png"
cp "$out/pixels/metrics.jsonl" "$here/pixels_metrics.jsonl"
cp "$out/codes/samples/top_activating.png" "$here/codes_top_activating.png"
cp "$out/codes/metrics.jsonl" "$here/codes_metrics.jsonl"
cp "$out/ae64/metrics.jsonl" "$here/ae64_metrics.jsonl"
