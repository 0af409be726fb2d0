#!/usr/bin/env bash
# A 784-500-1000 deep Boltzmann machine on stochastically binarized MNIST (Salakhutdinov & Hinton 2009,
# without the 10 label units of the released code): greedy pretraining with doubled weights (CD-1,
# PRETRAIN epochs per layer, learning rate 0.05), then joint training with mean field (10 updates per
# batch) for the data term and 100 persistent chains (5 Gibbs sweeps per step) for the model term,
# learning rate 1e-3 divided by 1.000015 every step down to 1e-4, momentum 0.5 -> 0.9 after 5 epochs,
# weight cost 2e-4, batch 100, the pixels re-binarized per batch. Then AIS over h1 (CHAINS chains x
# TEMPERATURES temperatures) for log Z, the mean-field lower bound on the 10,000 test digits (each
# binarized once with a fixed key), and pictures.
#
#   JAXAE_DATA_DIR=/path/to/data bash experiments/dbm_mnist/run.sh OUT              CPU recipe (200 joint epochs)
#   EPOCHS=300 JAXAE_DATA_DIR=... bash experiments/dbm_mnist/run.sh OUT             the paper's 100/200/300
# Every stage resumes bit-exactly from its newest checkpoint, so the second command continues the
# first run's folder (and either continues after an interruption when run again).
set -euo pipefail
out="${1:?output folder}"
epochs="${EPOCHS:-200}"; pretrain="${PRETRAIN:-100,200}"
chains="${CHAINS:-100}"; temperatures="${TEMPERATURES:-20000}"
j="python3 -m jaxae"
start=$(date +%s)
$j train dbm --data mnist --layers 500,1000 --pretrain-epochs "$pretrain" --epochs "$epochs" \
  --workdir "$out" --resume --no-progress
echo "training: $(( $(date +%s) - start )) s in this call"
start=$(date +%s)
$j eval --run "$out/joint" --ais --ais-chains "$chains" --ais-temperatures "$temperatures" --no-progress
echo "evaluation: $(( $(date +%s) - start )) s"
$j sample --run "$out/joint"
