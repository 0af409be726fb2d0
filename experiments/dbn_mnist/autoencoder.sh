#!/usr/bin/env bash
# Hinton & Salakhutdinov (2006)'s deep autoencoder on full MNIST: 784-1000-500-250-30 RBMs pretrained
# greedily on grey pixels (the code layer linear: Gaussian hidden units, learning rate 0.001), unrolled
# into encoder + decoder and fine-tuned on the pixels' cross-entropy with Adam; `jaxae eval` prints the
# test squared error per image next to PCA with 30 components. Then the same with a 2-D code and its map.
#   JAXAE_DATA_DIR=../shared/data bash experiments/dbn_mnist/autoencoder.sh OUT [PRE] [FT] [FT2D]
set -euo pipefail
out="${1:?output folder}"; pre="${2:-10}"; ft="${3:-30}"; ft2="${4:-20}"
j="python3 -m jaxae"
for code in 30 2; do
  layers="1000,500,250,$code"; epochs=$([ "$code" = 30 ] && echo "$ft" || echo "$ft2")
  $j train dbn --data mnist --layers "$layers" --code gaussian --top-learning-rate 0.001 --binarize probabilities \
    --epochs "$pre" --batch-size 100 --no-progress --workdir "$out/dbn-$code"
  $j finetune dbn --as autoencoder --data mnist --layers "$layers" --pretrained "$out/dbn-$code" --epochs "$epochs" \
    --batch-size 100 --lr-decay-steps $((epochs * 600)) --no-progress --checkpoint-every 10 --workdir "$out/ae-$code" | tail -1
  $j eval --run "$out/ae-$code" --no-progress | tail -1
  $j sample --run "$out/ae-$code"
done
# the same 30-D network from random initialisation, same fine-tuning budget
$j finetune dbn --as autoencoder --data mnist --layers 1000,500,250,30 --pretrained "" --epochs "$ft" --batch-size 100 \
  --lr-decay-steps $((ft * 600)) --no-progress --checkpoint-every 10 --workdir "$out/ae-30-random" | tail -1
$j eval --run "$out/ae-30-random" --no-progress | tail -1
