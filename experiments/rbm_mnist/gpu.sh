#!/usr/bin/env bash
# On one GPU: run.sh's three RBMs with longer budgets (each training stopped after TIMEOUT seconds at
# most), an AIS check with 100,000 temperatures on the CD-k model, the RBM benchmark rows and the AIS
# timing. Everything is written to OUT/rbm.tgz (metrics, eval.json, pictures; no checkpoints).
#   JAXAE_DATA_DIR=... bash experiments/rbm_mnist/gpu.sh OUT
set -uo pipefail
cd "$(dirname "$0")/../.."
dest="${1:?output folder}"; runs=/tmp/rbm-gpu
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
EPOCHS=${EPOCHS:-1000} EPOCHS_K=${EPOCHS_K:-200} K_FINAL=${K_FINAL:-25} CHAINS=1000 TIMEOUT=${TIMEOUT:-150} \
  bash experiments/rbm_mnist/run.sh "$runs"
for r in cd1 cdk pcd; do echo "$r: $(tail -1 $runs/$r/metrics.jsonl)"; done
python3 -m jaxae eval --run "$runs/cdk" --ais --ais-chains 1000 --ais-temperatures 100000 --no-progress | tail -1
python3 -m benchmarks.models --model rbm-cd1 --epochs 5
python3 -m benchmarks.models --model rbm-cd10 --epochs 3
python3 -m benchmarks.ais --run "$runs/cd1"
tar czf "$dest/rbm.tgz" --exclude checkpoints -C "$runs" .
