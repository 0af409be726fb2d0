"""Run by tests/test_parallel.py in a fresh process with 8 forced CPU devices: trains each model (an NNX
VAE among them) with --parallel none (one device), mesh and pmap (8 devices), in scan and step modes,
and prints the largest relative parameter difference per case as JSON."""
import json
import os
import re
import sys
import tempfile

import jax
import numpy as np

import jaxae
from jaxae.nnx_bridge import NNXModel
from jaxae.tasks import MODELS
from jaxae.tasks import vae as vae_task
from tests.nnx_example import NNXVAE


def relative_difference(a, b) -> float:
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) + 1e-12)))
    return worst


# float-valued instructions a fusion may hold besides the slice without computing the draw itself
_MOVES = {"parameter", "dynamic-slice", "slice", "bitcast", "reshape", "copy", "transpose", "constant", "broadcast"}


def float_ops_beside_slice(hlo: str) -> list[str]:
    """Opcodes of the float instructions that share a fusion with a dynamic-slice in compiled HLO text
    (empty: the slice only moves numbers)."""
    found = []
    for block in hlo.split("\n\n"):
        if "dynamic-slice(" not in block or "ENTRY" in block:
            continue
        for line in block.splitlines():
            match = re.match(r"\s*(?:ROOT )?%\S+ = (?:f16|bf16|f32|f64)\[[^\]]*\]\S* ([a-z-]+)\(", line)
            if match and match.group(1) not in _MOVES:
                found.append(match.group(1))
    return found


def main():
    assert jax.device_count() == 8, jax.devices()
    mini = jaxae.data.load("mnist-mini")
    small = jaxae.data.Dataset(mini.train_images[:512], mini.train_labels[:512],
                               mini.test_images[:256], mini.test_labels[:256], "small")
    cases = {
        "ae": {},
        "vae": {},  # reparameterisation noise
        "rbm": {"n_hidden": 32, "binarize": "dynamic"},  # CD-1: Bernoulli draws everywhere
        "rbm-pcd": {"n_hidden": 32, "pcd": True, "n_chains": 64, "k": 2},  # persistent chains in the state
        "nnx-vae": {},  # a Flax NNX module behind jaxae.nnx_bridge.NNXModel (examples/nnx_vae.py)
    }
    out = {}
    for name, options in cases.items():
        if name == "nnx-vae":
            task = vae_task.task(jaxae.VAEConfig(), module=NNXModel(lambda rngs: NNXVAE(rngs=rngs)))
        else:
            entry = MODELS[name.split("-")[0]]
            task = entry.task(entry.config(**options))
        for mode in ("scan", "step") if name == "rbm-pcd" else ("scan",):
            results = {}
            for parallel in ("none", "mesh", "pmap"):
                train = jaxae.TrainConfig(epochs=2, batch_size=64, mode=mode, parallel=parallel, progress=False)
                results[parallel] = jaxae.fit(task, small, train)
            one = results["none"]
            for parallel in ("mesh", "pmap"):
                many = results[parallel]
                devices = {d.id for leaf in jax.tree.leaves(many.state.params) for d in leaf.devices()}
                out[f"{name}/{mode}/{parallel}"] = {
                    "params": relative_difference(many.state.params, one.state.params),
                    "est_state": relative_difference(many.state.est_state, one.state.est_state),
                    "test_loss": abs(many.history[-1].get("test_loss", 0.0) - one.history[-1].get("test_loss", 0.0)),
                    "devices": len(devices),
                    "history_devices": many.history[-1].get("devices"),
                    "backend": many.history[-1].get("parallel"),
                }
    # checkpoints of a sharded run: interrupted after one epoch and resumed == trained straight through
    task = MODELS["rbm"].task(MODELS["rbm"].config(n_hidden=32, pcd=True, n_chains=64))
    for parallel in ("mesh", "pmap"):
        def train(epochs, parallel=parallel):
            return jaxae.TrainConfig(epochs=epochs, batch_size=64, parallel=parallel, progress=False)

        with tempfile.TemporaryDirectory() as folder:
            straight = jaxae.fit(task, small, train(2))
            jaxae.fit(task, small, train(1), folder)
            resumed = jaxae.fit(task, small, train(2), folder, resume=True)
        out[f"rbm-pcd {parallel} resume"] = {
            "params": relative_difference(resumed.state.params, straight.state.params),
            "est_state": relative_difference(resumed.state.est_state, straight.state.est_state),
            "devices": len(jax.tree.leaves(resumed.state.params)[0].devices()),
            "history_devices": resumed.history[-1].get("devices"), "backend": parallel}
    # 8 vmapped PCD RBMs: one per device (the model axis split, whole batches on each device)
    task = MODELS["rbm"].task(MODELS["rbm"].config(n_hidden=32, pcd=True, n_chains=64))
    results = {p: jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, seeds=8, parallel=p, progress=False))
               for p in ("none", "mesh")}
    leaf = jax.tree.leaves(results["mesh"].state.params)[0]
    out["rbm-pcd seeds=8"] = {
        "params": relative_difference(results["mesh"].state.params, results["none"].state.params),
        "est_state": relative_difference(results["mesh"].state.est_state, results["none"].state.est_state),
        "devices": len(leaf.devices()), "history_devices": results["mesh"].history[-1].get("devices"),
        "per_device_models": int(leaf.addressable_shards[0].data.shape[0]), "backend": "mesh",
    }
    # jaxae.rand under pmap: each device's rows of the one-device draw, sliced from a whole-batch draw that
    # the compiled program computes on its own (no draw arithmetic fused into the slice)
    from jaxae import rand

    key, p = jax.random.PRNGKey(3), jax.random.uniform(jax.random.PRNGKey(4), (64, 10))
    draws = {"normal": lambda x: rand.normal(key, x.shape), "bernoulli": lambda x: rand.bernoulli(key, x),
             "normal axis 1": lambda x: rand.normal(key, (3,) + x.shape, axis=1),
             "uniform": lambda x: rand.uniform(key, x.shape),
             "categorical": lambda x: rand.categorical(key, x), "randint": lambda x: rand.randint(key, x.shape[:1], 0, 9)}
    # does this XLA keep an optimization barrier through fusion? (jaxlib 0.10's removes it first)
    probe = jax.jit(lambda x, i: jax.lax.dynamic_slice_in_dim(jax.lax.optimization_barrier(2.0 * jax.numpy.exp(x)), i, 8))
    out["xla keeps barriers"] = float_ops_beside_slice(probe.lower(p, 8).compile().as_text()) == []
    for name, draw in draws.items():
        def split(x, draw=draw):
            with rand.rows_split_over("rows"):
                return draw(x)

        mapped = jax.pmap(split, axis_name="rows")
        per_device = mapped(p.reshape(8, 8, 10))
        whole = np.asarray(draw(p))
        if name == "normal axis 1":
            per_device = np.moveaxis(np.asarray(per_device), 0, 1).reshape(whole.shape)
        out[f"rand {name}"] = bool(np.array_equal(np.asarray(per_device).reshape(whole.shape), whole))
        out[f"rand {name} fused into the slice"] = float_ops_beside_slice(mapped.lower(p.reshape(8, 8, 10)).compile().as_text())
    errors = {
        "batch 60 on 8 devices": (MODELS["ae"].task(MODELS["ae"].config()), {"batch_size": 60}),
        "pmap 60 chains": (MODELS["rbm"].task(MODELS["rbm"].config(n_hidden=8, pcd=True, n_chains=60)),
                           {"batch_size": 64, "parallel": "pmap"}),
        "pmap seeds": (MODELS["ae"].task(MODELS["ae"].config()), {"batch_size": 64, "parallel": "pmap", "seeds": 8}),
    }
    written = []  # run folders a refused configuration left behind (there should be none)
    with tempfile.TemporaryDirectory() as parent:
        for case, (task, options) in errors.items():
            folder = f"{parent}/{len(written)}"
            try:
                jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, progress=False, **options), folder)
                out[case] = "no error"
            except jaxae.errors.ConfigError as e:
                out[case] = str(e)
            written.append(os.path.exists(folder))
    out["refused runs left a folder"] = any(written)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
