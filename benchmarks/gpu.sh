#!/usr/bin/env bash
# The GPU table in one run, for a machine with one GPU and jax[cuda] + torch (with CUDA) installed;
# meant to take under 8 minutes on an H100/H200 (not yet run on a GPU: see benchmarks/README.md).
#
#   JAXAE_DATA_DIR=/path/to/data bash benchmarks/gpu.sh OUT
#   DRY_RUN=1 bash benchmarks/gpu.sh OUT        # the same steps at toy sizes on any backend (166 s on a 2-core CPU)
#
# Rows: AE, VAE, conv AE and RBM CD-1/CD-10 at batch 128 (RBMs 100) and 4096: jaxae scan and step,
# scan in bf16, the hand-written JAX floor, PyTorch eager and torch.compile(mode="reduce-overhead"),
# the conv AE once per transposed-convolution formulation; a vmap of 16 VAEs against 16 sequential
# runs; AIS with 100 and 1,000 chains x 14,500 temperatures on a 784-500 RBM; `jaxae eval`'s IS-NLL
# (k=5000 over the 10,000 test digits). Every measurement is a JSON line in OUT/gpu.jsonl; the
# Markdown tables go to OUT/gpu.md and stdout, headed by the card, driver and versions.
set -euo pipefail
out="${1:-gpu-bench}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
log="$out/gpu.jsonl"
: > "$log"
if [ -n "${DRY_RUN:-}" ]; then  # toy sizes: checks that every step runs, times nothing worth keeping
  unset JAXAE_DATA_DIR  # the bundled mnist-mini
  epochs=1 big=512 big_epochs=1 seeds=4 chains=10,20 temperatures=500 k=50 limit=200 compile_mode=default
else
  epochs=3 big=4096 big_epochs=10 seeds=16 chains=100,1000 temperatures=14500 k=5000 limit="" compile_mode=reduce-overhead
fi
start=$SECONDS
section() { echo "# [$((SECONDS - start)) s] $*" >&2; }

GPU_INFO="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1 || true)"
export GPU_INFO
{
  python - <<'EOF'
import json, os, platform
import jax, jaxlib, flax, optax
try:
    import torch
    t = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "torch_device": torch.cuda.get_device_name(0)
         if torch.cuda.is_available() else "cpu"}
except ImportError:
    t = {"torch": None}
d = jax.devices()[0]
print(json.dumps({"machine": getattr(d, "device_kind", d.platform), "backend": d.platform,
                  "gpu": os.environ.get("GPU_INFO") or None, "dry_run": bool(os.environ.get("DRY_RUN")), "jax": jax.__version__,
                  "jaxlib": jaxlib.__version__, "flax": flax.__version__, "optax": optax.__version__,
                  "python": platform.python_version(), **t}))
EOF
} | tee -a "$log"

models=ae,conv-ae,vae,rbm-cd1,rbm-cd10
common=(--models "$models" --torch-compile --torch-compile-mode "$compile_mode" --bf16
        --transposed auto,dilated,matmul,subpixel)
section "throughput at batch 128 (RBMs 100)"
python -m benchmarks "${common[@]}" --epochs "$epochs" | tee -a "$log"
section "throughput at batch $big"
python -m benchmarks "${common[@]}" --epochs "$big_epochs" --batch-size "$big" | tee -a "$log"
section "vmap of $seeds VAEs vs $seeds sequential runs"
python -m benchmarks.scaling --model vae --seeds "$seeds" --batches '' --devices '' --epochs "$epochs" | tee -a "$log"
section "AIS, $chains chains x $temperatures temperatures"
python -m benchmarks.ais --chains "$chains" --temperatures "$temperatures" | tee -a "$log"
section "jaxae eval's IS-NLL, k=$k"
python -m benchmarks.likelihood --k "$k" ${limit:+--limit "$limit"} | tee -a "$log"
section "done"

python -m benchmarks.table "$log" | tee "$out/gpu.md"
echo "# $((SECONDS - start)) s in all; JSON lines in $log, tables in $out/gpu.md" >&2
