#!/usr/bin/env bash
# 784-500 RBMs on binarized full MNIST (threshold 0.5), batch 100, the practical guide's SGD (momentum
# 0.5 -> 0.9 after 5 epochs, weight decay 2e-4 on W), trained three ways, then AIS test log-likelihood
# (1,000 chains x 14,500 temperatures) and pictures:
#   cd1   CD-1, learning rate 0.05, EPOCHS epochs                 (the calibration run)
#   cdk   CD-k with k growing 1 -> 25 over the first half, learning rate decaying 0.05 -> 0 over the
#         second half, EPOCHS_K epochs
#   pcd   PCD-1 with 100 persistent chains, learning rate decaying 0.05 -> 0, EPOCHS epochs
# Budget: ~3 minutes per 100 CD-1 epochs on a 2-core CPU; the numbers in the README were run on one
# NVIDIA H100 (experiments/rbm_mnist/gpu_output.txt), where the whole script takes a few minutes.
#   JAXAE_DATA_DIR=/path/to/data bash experiments/rbm_mnist/run.sh OUT [EPOCHS] [EPOCHS_K]
set -euo pipefail
out="${1:?output folder}"; epochs="${2:-1000}"; epochs_k="${3:-200}"
j="python3 -m jaxae.cli"
steps=$((epochs * 600)); steps_k=$((epochs_k * 600)); half=$((steps_k / 2))
common=(--data mnist --n-hidden 500 --batch-size 100 --no-progress --checkpoint-every 100)
$j train rbm "${common[@]}" --epochs "$epochs" --workdir "$out/cd1"
$j train rbm "${common[@]}" --epochs "$epochs_k" --k 1 --k-final 25 --k-ramp-steps "$half" \
  --lr-decay-begin "$half" --lr-decay-steps "$half" --workdir "$out/cdk"
$j train rbm "${common[@]}" --epochs "$epochs" --pcd --n-chains 100 --lr-decay-steps "$steps" --workdir "$out/pcd"
for r in cd1 cdk pcd; do
  $j eval --run "$out/$r" --ais --ais-chains 1000 --no-progress | tail -1
  $j sample --run "$out/$r" >/dev/null
done
