"""Run by tests/test_parallel.py in a fresh process with 8 forced CPU devices: trains each model with
--parallel none (one device) and mesh (8 devices), in scan and step modes, and prints the largest
relative parameter difference per case as JSON."""
import json
import sys

import jax
import numpy as np

import jaxae
from jaxae.models import MODELS


def relative_difference(a, b) -> float:
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) + 1e-12)))
    return worst


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
    }
    out = {}
    for name, options in cases.items():
        config_cls, make_task = MODELS[name.split("-")[0]]
        task = make_task(config_cls(**options))
        for mode in ("scan", "step") if name == "rbm-pcd" else ("scan",):
            results = {}
            for parallel in ("none", "mesh"):
                train = jaxae.TrainConfig(epochs=2, batch_size=64, mode=mode, parallel=parallel, progress=False)
                result = jaxae.fit(task, small, train)
                results[parallel] = result
            one, many = results["none"].state, results["mesh"].state
            devices = {d.id for leaf in jax.tree.leaves(many.params) for d in leaf.devices()}
            out[f"{name}/{mode}"] = {
                "params": relative_difference(many.params, one.params),
                "est_state": relative_difference(many.est_state, one.est_state),
                "test_loss": abs(results["mesh"].history[-1].get("test_loss", 0.0)
                                 - results["none"].history[-1].get("test_loss", 0.0)),
                "devices": len(devices),
                "history_devices": results["mesh"].history[-1].get("devices"),
            }
    # checkpoints of a sharded run: interrupted after one epoch and resumed == trained straight through
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        task = MODELS["rbm"][1](MODELS["rbm"][0](n_hidden=32, pcd=True, n_chains=64))
        straight = jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, parallel="mesh", progress=False))
        jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, batch_size=64, parallel="mesh", progress=False), folder)
        resumed = jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, parallel="mesh", progress=False),
                            folder, resume=True)
        out["rbm-pcd mesh resume"] = {
            "params": relative_difference(resumed.state.params, straight.state.params),
            "est_state": relative_difference(resumed.state.est_state, straight.state.est_state),
            "devices": len(jax.tree.leaves(resumed.state.params)[0].devices()),
            "history_devices": resumed.history[-1].get("devices")}
    # 8 vmapped PCD RBMs: one per device (the model axis split, whole batches on each device)
    task = MODELS["rbm"][1](MODELS["rbm"][0](n_hidden=32, pcd=True, n_chains=64))
    results = {p: jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, seeds=8, parallel=p, progress=False))
               for p in ("none", "mesh")}
    leaf = jax.tree.leaves(results["mesh"].state.params)[0]
    out["rbm-pcd seeds=8"] = {
        "params": relative_difference(results["mesh"].state.params, results["none"].state.params),
        "est_state": relative_difference(results["mesh"].state.est_state, results["none"].state.est_state),
        "devices": len(leaf.devices()), "history_devices": results["mesh"].history[-1].get("devices"),
        "per_device_models": int(leaf.addressable_shards[0].data.shape[0]),
    }
    try:
        jaxae.fit(MODELS["ae"][1](MODELS["ae"][0]()), small, jaxae.TrainConfig(epochs=1, batch_size=60, progress=False))
        out["batch 60 on 8 devices"] = "no error"
    except jaxae.errors.ConfigError as e:
        out["batch 60 on 8 devices"] = str(e)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
