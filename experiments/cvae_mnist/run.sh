#!/usr/bin/env bash
# The conditional VAE against the unconditional VAE on full MNIST, same network, epochs and learning rate:
# test -ELBO and the IS-NLL (k=5000) of p(x | y) and of p(x). Usage: bash run.sh OUT [EPOCHS]
set -euo pipefail
out=${1:?usage: run.sh OUT [EPOCHS]}
epochs=${2:-30}
j="python3 -m jaxae"
for model in cvae vae; do
  $j train $model --data mnist --epochs "$epochs" --learning-rate 1e-3 --no-progress --workdir "$out/$model"
  $j eval --run "$out/$model" --k 5000 --no-progress | tail -1
done
$j sample --run "$out/cvae"
