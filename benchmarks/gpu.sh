#!/usr/bin/env bash
# The GPU table, for a machine with one GPU and jax[cuda] + torch installed (a few minutes).
#   JAXAE_DATA_DIR=/path/to/data bash benchmarks/gpu.sh | tee gpu.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
for b in 128 4096; do
  for m in ae conv-ae vae vae-binarized; do python -m benchmarks.models --model "$m" --batch-size "$b" --epochs 5; done
done
