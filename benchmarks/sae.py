"""Sparse autoencoders on synthetic data with ground truth: jaxae against SAELens and a hand-written JAX floor.

    python -m benchmarks.sae DIR                       # the CPU recipe: d 256, 4,096 features, width 1,024
    python -m benchmarks.sae DIR --recipe 16k          # after SynthSAEBench-16k: d 768, 16,384 features,
                                                       # width 4,096, 200M samples, batch 1,024 (a GPU)
    python -m benchmarks.sae DIR --recipe 16k --dry-run   # the same command on a small sample count
    python -m benchmarks.sae DIR --children 3 --rows batchtopk,matryoshka --against ''   # with a feature hierarchy

DIR holds the generated shard set (written at run time by jaxae.data.synthetic, reused when its
recipe matches; never committed). On the same shards and hyperparameters (batch 1,024, Adam 3e-4,
one pass), each row trains one SAE and evaluates it on the test split: MCC (Hungarian matching of
decoder rows to the true features), mean per-latent F1 as a detector of its best-matched feature,
explained variance, L0 and the latents that never fire on the test split, all computed by
jaxae.sae.metrics for every implementation; BatchTopK and Matryoshka are evaluated as JumpReLUs at
their running threshold (inference mode) in both libraries. samples/s: jaxae's from its metrics.jsonl
epoch time (streamed from the shards); SAELens's SAETrainer.fit wall time over the same batches (torch
threads = CPU count); the floor: one jitted lax.scan of a hand-written TopK/BatchTopK step (optax
Adam, AuxK, unit-norm decoder) over in-memory chunks of the same shards. JSON lines to stdout.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxae
from benchmarks.common import emit
from jaxae import sae
from jaxae.data import synthetic
from jaxae.tasks.sae import B_DEC_INITS, SAEConfig, encode, task

RECIPES = {
    "cpu": {"d": 256, "m": 4096, "width": 1024, "k": 15, "n_train": 2_000_000, "n_test": 16_384, "min_prob": 0.003},
    "16k": {"d": 768, "m": 16384, "width": 4096, "k": 25, "n_train": 200_000_000, "n_test": 65_536, "min_prob": 0.0005},
}
BATCH, LR = 1024, 3e-4
ROWS = ["topk", "topk-noaux", "batchtopk", "relu", "jumprelu", "matryoshka"]


def dataset(folder: str, recipe: dict) -> str:
    options = {"min_prob": recipe["min_prob"], **({"children": recipe["children"]} if recipe.get("children") else {})}
    meta = {"seed": 0, "d": recipe["d"], "m": recipe["m"], "n_train": recipe["n_train"], "n_test": recipe["n_test"],
            "batch_size": 4096, "options": options}
    if os.path.exists(os.path.join(folder, synthetic.TRUTH)):
        if synthetic.truth(folder)[1] == meta:
            return folder
        raise SystemExit(f"{folder} holds another synthetic set; pass a new folder")
    t0 = time.perf_counter()
    synthetic.write(folder, 0, recipe["d"], recipe["m"], recipe["n_train"], recipe["n_test"], **options)
    print(f"# wrote {recipe['n_train']:,} + {recipe['n_test']:,} samples to {folder} in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return folder


def evaluate(folder: str, encode_fn, decode_fn, atoms) -> dict:
    """Quality on the test split, the same code for every implementation."""
    model, _ = synthetic.truth(folder)
    matches = jnp.asarray(sae.metrics.best_matches(atoms, model.features))
    sums = counts = None
    l0, fired, n = 0.0, None, 0
    for x, f in synthetic.test_batches(folder):
        acts = np.asarray(encode_fn(x))
        recon = np.asarray(decode_fn(acts))
        sums = sae.metrics.variance_sums(x, recon, sums)
        counts = sae.metrics.confusion(jnp.asarray(acts), jnp.asarray(f), matches, counts)
        l0 += float((acts != 0).sum())
        fired = (acts != 0).any(0) if fired is None else fired | (acts != 0).any(0)
        n += len(x)
    assert sums is not None and counts is not None and fired is not None
    out = {"mcc": sae.metrics.mcc(atoms, model.features), "f1": float(sae.metrics.f1(counts)),
           "explained_variance": sae.metrics.explained_variance(sums), "l0": l0 / n,
           "dead_fraction": float(1.0 - fired.mean())}
    if model.parent is not None:  # absorption: a latent matched to a parent misses it where a child fires
        out.update(hierarchy_scores(model.parent, np.asarray(matches), counts))
    return out


def hierarchy_scores(parent: np.ndarray, matches: np.ndarray, counts) -> dict:
    """F1 and recall of the latents matched to parent features, and F1 of those matched to children."""
    tp, fp, fn = (np.asarray(c) for c in counts)
    is_parent = np.isin(np.arange(len(parent)), parent[parent >= 0])[matches]
    is_child = (parent >= 0)[matches]
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    group = lambda mask: sae.metrics.Confusion(*(jnp.asarray(c[mask]) for c in (tp, fp, fn)))  # noqa: E731
    return {"parent_latents": int(is_parent.sum()), "parent_f1": float(sae.metrics.f1(group(is_parent))),
            "parent_recall": float(recall[is_parent].mean()), "child_latents": int(is_child.sum()),
            "child_f1": float(sae.metrics.f1(group(is_child)))}


def config_for(row: str, recipe: dict) -> SAEConfig:
    arch = row.split("-")[0]
    options = {"relu": {"l1_coefficient": 0.5}, "jumprelu": {"target_l0": float(recipe["k"]), "l0_coefficient": 1.0}}
    return SAEConfig(arch=arch, width=recipe["width"], k=recipe["k"], learning_rate=LR,
                     aux_coefficient=0.0 if row.endswith("noaux") else 1.0, b_dec_init=recipe["b_dec_init"],
                     **options.get(arch, {}))


def run_jaxae(folder: str, row: str, recipe: dict) -> dict:
    config = config_for(row, recipe)
    data = jaxae.data.load("shards:" + folder)
    train = jaxae.TrainConfig(epochs=1, batch_size=BATCH, shuffle=False, progress=False, init_examples=4096,
                              eval_batch_size=4096)
    result = jaxae.fit(task(config), data, train)
    params = jax.tree.map(np.asarray, result.state.params)
    enc = jax.jit(encode(config))
    quality = evaluate(folder, lambda x: enc(params, jnp.asarray(x)),
                       lambda a: np.asarray(sae.decode(params, jnp.asarray(a))), params.W_dec)
    record = result.history[-1]
    return {**quality, "samples_per_s": record["samples_per_s"], "train_dead": record.get("train_dead")}


def floor(folder: str, arch: str, recipe: dict) -> dict:
    """A hand-written JAX SAE step (no jaxae), scanned over in-memory chunks of the same shards."""
    files = sorted(glob.glob(os.path.join(folder, "train-*.image.npy")))
    d, n, k = recipe["d"], recipe["width"], recipe["k"]
    opt = optax.adam(LR)
    key = jax.random.PRNGKey(0)
    w = jax.random.normal(key, (n, d))
    w = w / jnp.linalg.norm(w, axis=-1, keepdims=True)
    first = np.load(files[0], mmap_mode="r")[:4096]
    p = {"W_enc": w.T, "b_enc": jnp.zeros(n), "W_dec": w, "b_dec": sae.geometric_median(jnp.asarray(first))}

    def loss(p, x, dead):
        pre = (x - p["b_dec"]) @ p["W_enc"] + p["b_enc"]
        if arch == "topk":
            v, i = jax.lax.top_k(pre, k)
            acts = jnp.zeros_like(pre).at[jnp.arange(x.shape[0])[:, None], i].set(jax.nn.relu(v))
        else:
            flat = jax.nn.relu(pre).reshape(1, -1)
            v, i = jax.lax.top_k(flat, x.shape[0] * k)
            acts = jnp.zeros_like(flat).at[0, i[0]].set(v[0]).reshape(pre.shape)
        recon = acts @ p["W_dec"] + p["b_dec"]
        mse = jnp.mean(jnp.sum(jnp.square(recon - x), -1))
        k_aux = d // 2
        av, ai = jax.lax.top_k(jnp.where(dead, pre, -jnp.inf), k_aux)
        aux_acts = jnp.zeros_like(pre).at[jnp.arange(x.shape[0])[:, None], ai].set(jnp.where(jnp.isfinite(av), av, 0.0))
        residual = jax.lax.stop_gradient(x - recon)
        aux = jnp.minimum(dead.sum() / k_aux, 1.0) * jnp.mean(jnp.sum(jnp.square(aux_acts @ p["W_dec"] - residual), -1))
        return mse + aux, acts

    def step(carry, x):
        p, o, since, threshold = carry
        (value, acts), g = jax.value_and_grad(loss, has_aux=True)(p, x, since > 1000)
        wd = p["W_dec"]
        g["W_dec"] = g["W_dec"] - jnp.sum(g["W_dec"] * wd, -1, keepdims=True) * wd
        u, o = opt.update(g, o)
        p = optax.apply_updates(p, u)
        p["W_dec"] = p["W_dec"] / jnp.linalg.norm(p["W_dec"], axis=-1, keepdims=True)
        since = jnp.where(jnp.any(acts != 0, 0), 0, since + 1)
        smallest = jnp.min(jnp.where(acts > 0, acts, jnp.inf))
        threshold = jnp.where(jnp.isfinite(smallest), 0.99 * threshold + 0.01 * smallest, threshold)
        return (p, o, since, threshold), value

    run = jax.jit(lambda carry, xs: jax.lax.scan(step, carry, xs))
    carry = (p, opt.init(p), jnp.zeros(n, jnp.int32), jnp.zeros(()))
    samples, t0, compiled = 0, None, False
    for path in files:
        shard = np.load(path, mmap_mode="r")
        usable = shard.shape[0] // BATCH * BATCH
        for start in range(0, usable, 64 * BATCH):
            chunk = np.asarray(shard[start:min(start + 64 * BATCH, usable)], np.float32).reshape(-1, BATCH, d)
            carry, values = run(carry, chunk)
            if not compiled:  # the first chunk compiles; time the rest
                jax.block_until_ready(values)
                compiled, t0 = True, time.perf_counter()
                continue
            samples += chunk.shape[0] * BATCH
    jax.block_until_ready(carry)
    p, threshold = carry[0], carry[3]
    if arch == "topk":
        enc = jax.jit(lambda x: sae.topk(sae.SAEParams(p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"], jnp.zeros(n)), x, k))
    else:
        q = sae.SAEParams(p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"], jnp.full(n, threshold))
        enc = jax.jit(lambda x: sae.jumprelu(q, x))
    quality = evaluate(folder, lambda x: enc(jnp.asarray(x)), lambda a: np.asarray(a @ p["W_dec"] + p["b_dec"]), p["W_dec"])
    return {**quality, "samples_per_s": samples / (time.perf_counter() - t0)}


def run_saelens(folder: str, arch: str, recipe: dict) -> dict:
    import torch
    from sae_lens import (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig, TopKTrainingSAE,
                          TopKTrainingSAEConfig)
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    d, n, k = recipe["d"], recipe["width"], recipe["k"]
    if arch == "topk":
        model = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, aux_loss_coefficient=1.0))
    else:
        model = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, aux_loss_coefficient=1.0))
    files = sorted(glob.glob(os.path.join(folder, "train-*.image.npy")))
    first = np.load(files[0], mmap_mode="r")[:4096]
    with torch.no_grad():  # the same b_dec initialisation as jaxae's (the geometric median of 4,096 samples)
        model.b_dec.copy_(torch.from_numpy(np.asarray(sae.geometric_median(jnp.asarray(first)))))

    def batches():
        for path in files:
            shard = np.load(path, mmap_mode="r")
            for start in range(0, shard.shape[0] // BATCH * BATCH, BATCH):
                yield torch.from_numpy(np.array(shard[start:start + BATCH], np.float32))

    total = sum(np.load(f, mmap_mode="r").shape[0] // BATCH * BATCH for f in files)
    cfg = SAETrainerConfig(
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False, total_training_samples=total,
        device="cpu", autocast=False, lr=LR, lr_end=LR, lr_scheduler_name="constant", lr_warm_up_steps=0,
        adam_beta1=0.9, adam_beta2=0.999, lr_decay_steps=0, n_restart_cycles=1, train_batch_size_samples=BATCH,
        dead_feature_window=1000, feature_sampling_window=2000,
        logger=LoggingConfig(log_to_wandb=False, eval_every_n_wandb_logs=2**31 - 1), n_batches_for_norm_estimate=1000)
    trainer = SAETrainer(cfg=cfg, sae=model, data_provider=batches())
    t0 = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - t0
    model.eval()
    atoms = model.W_dec.detach().numpy()
    threshold = float(getattr(model, "topk_threshold", 0.0))

    @torch.no_grad()
    def encode_fn(x):
        acts, pre = model.encode_with_hidden_pre(torch.from_numpy(np.asarray(x)))
        if arch != "topk":  # BatchTopK at inference: a JumpReLU at the running threshold, as SAELens saves it
            acts = pre * (pre > threshold)
        return acts.numpy()

    @torch.no_grad()
    def decode_fn(acts):
        return model.decode(torch.from_numpy(np.asarray(acts))).numpy()

    return {**evaluate(folder, encode_fn, decode_fn, atoms), "samples_per_s": total / seconds,
            "torch": torch.__version__}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="where the synthetic shard set is written (or reused)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--dry-run", action="store_true", help="the recipe's sizes on 65,536 training samples")
    parser.add_argument("--samples", type=int, default=0, help="training samples (default: the recipe's)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"jaxae rows, from {','.join(ROWS)}")
    parser.add_argument("--against", default="floor,saelens", help="floor, saelens, both, or ''")
    parser.add_argument("--width", type=int, default=0, help="latents (default: the recipe's)")
    parser.add_argument("--children", type=int, default=0, metavar="C",
                        help="a feature hierarchy: trees of a parent and its next C most frequent features, each "
                             "active only where the parent is (jaxae.data.synthetic; default 0: independent features)")
    parser.add_argument("--b-dec-init", choices=B_DEC_INITS, default="geometric-median",
                        help="where jaxae's b_dec starts (the floor and SAELens rows take only geometric-median)")
    args = parser.parse_args(argv)
    if args.b_dec_init != "geometric-median" and args.against:
        parser.error("--b-dec-init applies to jaxae's rows only; add --against ''")
    recipe = dict(RECIPES[args.recipe])
    if args.dry_run or args.samples:
        recipe["n_train"] = args.samples or 65_536
        recipe["n_test"] = min(recipe["n_test"], 8192)
    if args.width:
        recipe["width"] = args.width
    if args.children < 0:
        parser.error(f"--children must be >= 0, got {args.children}")
    recipe["children"] = args.children
    recipe["b_dec_init"] = args.b_dec_init
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {','.join(ROWS)}")
    folder = dataset(args.folder, recipe)
    base = {"bench": "sae", "recipe": args.recipe, "n_train": recipe["n_train"], "d": recipe["d"],
            "features": recipe["m"], "width": recipe["width"], "k": recipe["k"], "batch": BATCH, "lr": LR,
            "b_dec_init": args.b_dec_init, "children": args.children,
            "jax": jax.__version__}
    against = [a for a in args.against.split(",") if a]
    for row in rows:
        emit({**base, "impl": "jaxae", "arch": row, **run_jaxae(folder, row, recipe)})
        arch = row.split("-")[0]
        if arch in ("topk", "batchtopk") and not row.endswith("noaux"):
            if "floor" in against:
                emit({**base, "impl": "jax-floor", "arch": arch, **floor(folder, arch, recipe)})
            if "saelens" in against:
                emit({**base, "impl": "saelens", "arch": arch, **run_saelens(folder, arch, recipe)})


if __name__ == "__main__":
    main()
