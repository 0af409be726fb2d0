#!/usr/bin/env bash
# On a GPU machine: (1) IS-NLL of CPU-trained runs copied to RUNS (checks that a CPU checkpoint
# restores on a GPU), (2) a shortened Burda et al. protocol: 784-200-200-50 VAE and IWAE (k=5), each
# trained for up to EPOCHS epochs within a time limit, then evaluated with k=5000.
#   JAXAE_DATA_DIR=... bash experiments/vae_mnist/gpu.sh RUNS [EPOCHS]
set -uo pipefail
runs="${1:?folder with vae-mnist/ and iwae-mnist/}"; epochs="${2:-500}"
j="python3 -m jaxae"
for r in vae-mnist iwae-mnist; do $j eval --run "$runs/$r" --no-progress | tail -1; done
arch=(--data mnist --hidden 200,200 --latent 50 --learning-rate 1e-3 --epochs "$epochs" --checkpoint-every 50 --no-progress)
timeout 60 $j train vae "${arch[@]}" --workdir /tmp/burda-vae | tail -1
timeout 90 $j train iwae "${arch[@]}" --samples 5 --workdir /tmp/burda-iwae | tail -1
for r in burda-vae burda-iwae; do
  tail -1 /tmp/$r/metrics.jsonl | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('$r', 'epochs', r['epoch'])"
  $j eval --run /tmp/$r --no-progress | tail -1
done
