#!/usr/bin/env bash
# 784-500 RBMs on binarized full MNIST (threshold 0.5), batch 100, the practical guide's SGD (momentum
# 0.5 -> 0.9 after 5 epochs, weight decay 2e-4 on W), trained three ways, then the AIS test
# log-likelihood (CHAINS chains x 14,500 temperatures) and pictures (filters, samples):
#   cd1  CD-1, learning rate 0.05 constant, EPOCHS epochs (the practical guide's recipe)
#   cdk  CD-k with k growing 1 -> K_FINAL over the first half of EPOCHS_K epochs, then the learning
#        rate 0.05 decaying linearly to 0 over the second half
#   pcd  PCD-1, 100 persistent chains, learning rate 0.01 decaying linearly to 0 over EPOCHS epochs
#   cdk-dynamic  cdk on stochastically binarized digits (a fresh Bernoulli draw of every training
#        image each step; the test digits drawn once), the data of Salakhutdinov & Murray 2008
#
#   JAXAE_DATA_DIR=/path/to/data bash experiments/rbm_mnist/run.sh OUT
#   EPOCHS=1000 EPOCHS_K=200 K_FINAL=25 CHAINS=1000 bash experiments/rbm_mnist/run.sh OUT   (GPU)
# Defaults (EPOCHS=50, EPOCHS_K=30, K_FINAL=10, CHAINS=100) take about 25 minutes on the 2-core CPU.
set -uo pipefail
out="${1:?output folder}"
epochs="${EPOCHS:-50}"; epochs_k="${EPOCHS_K:-30}"; k_final="${K_FINAL:-10}"; chains="${CHAINS:-100}"
j="python3 -m jaxae"
# TIMEOUT=S stops a training run after S seconds; its newest checkpoint is then evaluated (the epoch is printed)
train() { ${TIMEOUT:+timeout "$TIMEOUT"} $j train rbm "$@" || echo "training stopped early (exit $?)"; }
half=$((epochs_k * 300))   # 600 steps per epoch at batch 100
common=(--data mnist --n-hidden 500 --batch-size 100 --no-progress --checkpoint-every 50)
train "${common[@]}" --epochs "$epochs" --workdir "$out/cd1"
train "${common[@]}" --epochs "$epochs_k" --k 1 --k-final "$k_final" --k-ramp-steps "$half" \
  --lr-decay-begin "$half" --lr-decay-steps "$half" --workdir "$out/cdk"
train "${common[@]}" --epochs "$epochs" --pcd --n-chains 100 --learning-rate 0.01 \
  --lr-decay-steps $((epochs * 600)) --workdir "$out/pcd"
train "${common[@]}" --epochs "$epochs_k" --k 1 --k-final "$k_final" --k-ramp-steps "$half" \
  --lr-decay-begin "$half" --lr-decay-steps "$half" --binarize dynamic --workdir "$out/cdk-dynamic"
for r in cd1 cdk pcd cdk-dynamic; do
  $j eval --run "$out/$r" --ais --ais-chains "$chains" --no-progress | tail -1
  $j sample --run "$out/$r" >/dev/null
done
