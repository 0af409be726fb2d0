#!/usr/bin/env bash
# A 784-500-500-2000 DBN on full MNIST: greedy pretraining (CD-1, PRE epochs per layer), then the
# unrolled network fine-tuned as a 10-way classifier for FT epochs, next to the same MLP trained from
# random initialisation for the same epochs (the pretraining time is reported separately).
#   JAXAE_DATA_DIR=../shared/data bash experiments/dbn_mnist/run.sh OUT [PRE] [FT]
set -uo pipefail
out="${1:?output folder}"; pre="${2:-10}"; ft="${3:-30}"
j="python3 -m jaxae.cli"
$j train dbn --data mnist --layers 500,500,2000 --epochs "$pre" --batch-size 100 --no-progress --workdir "$out/dbn"
for init in pretrained random; do
  p=$([ "$init" = pretrained ] && echo "$out/dbn" || echo "")
  $j train dbn-classifier --data mnist --layers 500,500,2000 --pretrained "$p" --epochs "$ft" --batch-size 100 \
    --no-progress --checkpoint-every 10 --workdir "$out/classifier-$init" | tail -1
done
