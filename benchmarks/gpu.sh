#!/usr/bin/env bash
# The GPU tables, for a machine with one GPU and jax[cuda] + torch installed (meant to take under 8
# minutes; this version has not been run on a GPU yet):
# every model at batch 128 (RBMs 100) and 4096 with torch eager and torch.compile and jaxae's
# --precision bfloat16 row, the RBMs and the
# chapter's MovieLens epoch, then 16 vmapped VAEs vs 16 sequential runs and batch scaling, with a plot;
# on a machine with several GPUs, also mesh vs pmap over 1, 2, 4, ... of them.
#   JAXAE_DATA_DIR=/path/to/data bash benchmarks/gpu.sh OUT    (JSON lines and Markdown on stdout)
set -euo pipefail
out="${1:-gpu-bench}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
for b in 128 4096; do
  for m in ae conv-ae vae vae-binarized; do
    python -m benchmarks.models --model "$m" --batch-size "$b" --epochs 5 --torch-compile --bf16
  done
done
for m in rbm-cd1 rbm-cd10 cf-rbm-chapter; do python -m benchmarks.models --model "$m" --modes scan --epochs 5; done
python -m benchmarks.scaling --model vae --seeds 16 --batches 128,1024,4096 --devices '' --epochs 5 \
  --plot "$out/scaling_gpu.png"
# several GPUs: data-parallel scaling with both backends (mesh and pmap) over 1, 2, 4, ... of them
n=$(python -c "import jax; print(jax.device_count())")
if [ "$n" -gt 1 ]; then
  counts=$(python -c "print(','.join(str(2**i) for i in range(($n).bit_length()) if 2**i <= $n))")
  python -m benchmarks.scaling --model vae --seeds 0 --batches '' --batch-size 1024 --devices "$counts" \
    --backends mesh,pmap --epochs 5 --plot "$out/devices_gpu.png"
fi
