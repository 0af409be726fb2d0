#!/usr/bin/env bash
# MovieLens 100K recommenders on the GroupLens folds: train each model on uN.base, evaluate on uN.test
# (RMSE / MAE of the held-out ratings from the training ratings only, top-10 metrics, bias baselines),
# then print a table of mean ± std over u1..u5 and the ua / ub numbers.
#   JAXAE_DATA_DIR=../shared/data bash experiments/movielens/run.sh OUT [FOLDS]
set -uo pipefail
out="${1:?output folder}"; folds="${2:-u1 u2 u3 u4 u5 ua ub}"
j="python3 -m jaxae"
for f in $folds; do
  d=(--data "ml-100k/$f" --no-progress --checkpoint-every 1000)
  $j train cf-rbm "${d[@]}" --item-based --epochs 60 --batch-size 100 --workdir "$out/cf-rbm-item-$f" | tail -1
  $j train cf-rbm "${d[@]}" --epochs 40 --batch-size 100 --workdir "$out/cf-rbm-user-$f" | tail -1
  $j train autorec "${d[@]}" --epochs 300 --batch-size 1682 --workdir "$out/autorec-$f" | tail -1
  $j train rbm-binary "${d[@]}" --epochs 10 --batch-size 100 --workdir "$out/rbm-binary-$f" | tail -1
  for m in cf-rbm-item cf-rbm-user autorec rbm-binary; do $j eval --run "$out/$m-$f" --no-progress | tail -1; done
done
python3 experiments/movielens/table.py "$out"
