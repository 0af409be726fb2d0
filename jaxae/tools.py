"""What `jaxae eval` and `jaxae sample` do, as functions of a loaded Run."""
from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxae import viz
from jaxae.errors import CheckpointError, ConfigError
from jaxae.evaluate import dataset_nll
from jaxae.models.rbm import RBMParams
from jaxae.runs import Run
from jaxae.samplers import gibbs
from jaxae.train import steps


def check_finite_params(run: Run) -> None:
    """Raises CheckpointError when the run's parameters hold NaN or inf (a diverged run)."""
    leaves = jax.tree_util.tree_leaves_with_path(run.state.params)
    bad = [jax.tree_util.keystr(path) for path, x in leaves if not np.all(np.isfinite(np.asarray(x)))]
    if bad:
        raise CheckpointError(f"the parameters of {run.path} (epoch {run.epoch}) contain NaN or inf in "
                              f"{', '.join(bad[:3])}: the training diverged; retrain with a lower learning rate "
                              "or restore an earlier checkpoint")


def evaluate_run(run: Run, k: int = 5000, chunk: int = 500, batch_size: int = 100, limit: int | None = None,
                 progress: bool = True, ais_chains: int = 0, ais_temperatures: int = 14_500) -> dict:
    """Test metrics of the run's model and, for models with a likelihood, the k-sample IS-NLL; for
    RBMs with `ais_chains` > 0, the AIS estimate of log Z and the test log-likelihood.

    Returns:
      A dict; written to RUN/eval.json too.
    """
    check_finite_params(run)
    images = run.data.test_images[:limit] if limit else run.data.test_images
    from jaxae.train.loop import summarized

    metrics = summarized(run.task, steps.evaluate(run.task, 1000, run.state, jnp.asarray(images)))
    result = {"run": run.path, "epoch": run.epoch, "n_test": int(len(images)),
              **{f"test_{name}": float(v) for name, v in metrics.items()}}
    if run.task.log_weights is not None:
        x = steps.eval_inputs(run.task, run.state.key, jnp.asarray(images))
        key = jax.random.fold_in(steps.eval_key(run.state.key), 3)
        bar = (lambda it: tqdm(it, desc=f"IS-NLL k={k}")) if progress else None
        nll = dataset_nll(key, run.task.log_weights, run.state.params, x, k, min(chunk, k), batch_size, bar)
        result.update(is_nll=float(nll.mean()), is_nll_stderr=float(nll.std(ddof=1) / math.sqrt(len(nll))), k=k)
        if "binarize" in getattr(run.config, "__dataclass_fields__", {}):
            result["test_binarization"] = {
                "dynamic": "each test digit binarized once by a Bernoulli draw with a key fixed by the run's seed",
                "static": "threshold 0.5", "none": "grey pixels"}[run.config.binarize]
    if run.task.codec is not None and "test_squared_error" in result:  # the linear baseline at the code size
        result.update(pca_baseline(run, images))
    if run.task.predict is not None:
        result.update(recommender_metrics(run))
    if isinstance(run.state.params, RBMParams) and ais_chains:
        result.update(rbm_likelihood(run, images, ais_chains, ais_temperatures))
    with open(os.path.join(run.path, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def fit_pca(run: Run):
    """PCA with as many components as the run's code, fitted on its (preprocessed) training images."""
    from jaxae import pca

    return pca.fit(steps.eval_inputs(run.task, run.state.key, jnp.asarray(run.data.train_images)),
                   run.task.codec.latent)


def pca_baseline(run: Run, images: np.ndarray) -> dict:
    """Test squared reconstruction error per image of PCA at the run's code size (see fit_pca)."""
    from jaxae import pca

    test = steps.eval_inputs(run.task, run.state.key, jnp.asarray(images))
    fitted = fit_pca(run)
    return {"pca_components": run.task.codec.latent,
            "pca_test_squared_error": float(jnp.mean(pca.squared_error(fitted, test)))}


def sample_run(run: Run, n: int = 64, seed: int = 0, folder: str | None = None) -> list[str]:
    """Writes the chapter's application pictures for the run; returns their paths.

    prior.png (decoded draws from N(0, I), VAEs), interpolation.png (between pairs of test digits in
    latent space), latent_map.png (test codes coloured by label; a PCA projection above 2-D), and
    denoise.png (noisy | denoised | clean rows, denoising models), and vs_pca.png (test digits | deep
    autoencoder | PCA with as many components as the code, dbn-autoencoder runs).
    """
    check_finite_params(run)
    if isinstance(run.state.params, RBMParams):
        return sample_rbm(run, n, seed, folder)
    codec = run.task.codec
    if codec is None:
        raise ConfigError(f"the {run.model} model has no latent space to sample from")
    folder = folder or os.path.join(run.path, "samples")
    key = jax.random.PRNGKey(seed)
    params = run.state.params
    h, w = run.data.image_shape
    shape = lambda a: np.asarray(a).reshape(-1, h, w)  # noqa: E731
    x = steps.eval_inputs(run.task, run.state.key, jnp.asarray(run.data.test_images[:5000]))
    labels = np.asarray(run.data.test_labels[:5000])
    written = []

    if codec.prior:
        z = jax.random.normal(key, (n, codec.latent))
        path = os.path.join(folder, "prior.png")
        viz.save_grid(shape(codec.decode(params, z)), path)
        written.append(path)

    pairs = [(int(np.flatnonzero(labels == a)[0]), int(np.flatnonzero(labels == b)[0]))
             for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)] if (labels == a).any() and (labels == b).any()]
    if pairs:
        codes = codec.encode(params, x[np.array([i for p in pairs for i in p])])
        t = jnp.linspace(0.0, 1.0, 10)[:, None]
        rows = [(1 - t) * codes[2 * r] + t * codes[2 * r + 1] for r in range(len(pairs))]
        path = os.path.join(folder, "interpolation.png")
        viz.save_grid(shape(codec.decode(params, jnp.concatenate(rows))), path, columns=10)
        written.append(path)

    codes = np.concatenate([np.asarray(codec.encode(params, x[i : i + 1000])) for i in range(0, len(x), 1000)])
    title = f"{run.model}: test codes (latent {codec.latent})"
    if codes.shape[1] > 2:
        centred = codes - codes.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        codes, title = centred @ vt[:2].T, title + ", first two principal components"
    path = os.path.join(folder, "latent_map.png")
    viz.save_latent_map(codes[:, :2], labels, path, title)
    written.append(path)

    if run.model == "dbn-autoencoder":  # Hinton & Salakhutdinov's figure: data | autoencoder | PCA
        from jaxae import pca

        fitted = fit_pca(run)
        firsts = np.array([int(np.flatnonzero(labels == c)[0]) for c in range(10) if (labels == c).any()])
        rows = [x[firsts], run.task.reconstruct(params, x[firsts]), pca.decode(fitted, pca.encode(fitted, x[firsts]))]
        path = os.path.join(folder, "vs_pca.png")
        viz.save_grid(np.clip(np.concatenate([shape(r) for r in rows]), 0, 1), path, columns=len(firsts))
        written.append(path)

    if codec.corrupt is not None:
        clean = x[:8]
        noisy = codec.corrupt(jax.random.fold_in(key, 1), clean)
        denoised = run.task.reconstruct(params, noisy)
        path = os.path.join(folder, "denoise.png")
        viz.save_grid(np.concatenate([shape(noisy), shape(denoised), shape(clean)]), path)
        written.append(path)
    return written


def sample_rbm(run: Run, n: int = 64, seed: int = 0, folder: str | None = None, sweeps: int = 1000) -> list[str]:
    """filters.png (the first 100 columns of W as images, each scaled to [0, 1]) and samples.png
    (p(v | h) after `sweeps` Gibbs sweeps of n chains started from random pixels)."""
    folder = folder or os.path.join(run.path, "samples")
    params = run.state.params
    h, w = run.data.image_shape
    filters = np.asarray(params.W.T[:100])
    low, high = filters.min(axis=1, keepdims=True), filters.max(axis=1, keepdims=True)
    filters = (filters - low) / np.maximum(high - low, 1e-8)
    paths = [os.path.join(folder, "filters.png"), os.path.join(folder, "samples.png")]
    viz.save_grid(filters.reshape(-1, h, w), paths[0], columns=10)
    key = jax.random.PRNGKey(seed)
    v0 = jax.random.bernoulli(key, 0.5, (n, h * w)).astype(jnp.float32)
    run_chain = jax.jit(gibbs.run, static_argnums=3)
    _, info = run_chain(jax.random.fold_in(key, 1), gibbs.init(key, params, v0), params, sweeps)
    viz.save_grid(np.asarray(info.p_v).reshape(-1, h, w), paths[1])
    return paths


def sample_dbn(workdir: str, n: int = 10, seed: int = 0, sweeps: int = 1000, folder: str | None = None,
               classifier: Run | None = None) -> tuple[list[str], float | None]:
    """Digits generated by a pretrained DBN (`jaxae train dbn --workdir WORKDIR`): by_class.png, one row
    of n samples per class, when its top RBM has label units (--labels), else samples.png with n x n
    samples; each after `sweeps` Gibbs sweeps in the top RBM and the top-down pass.

    With a `classifier` run (dbn-classifier) and label units, also returns the fraction of generated
    digits that the classifier assigns to the class they were generated for (else None)."""
    from jaxae.models import dbn, rbm

    stack = dbn.load_stack(workdir)
    top = dbn.stack_configs(workdir)[-1]
    classes = top.labels
    if classifier is not None and not classes:
        raise ConfigError("--classifier checks digits generated by class; the DBN was trained without --labels")
    if classifier is not None and classifier.model != "dbn-classifier":
        raise ConfigError(f"--classifier needs a dbn-classifier run, got a {classifier.model} run")
    for params in stack:
        rbm.check_finite(params)
    side = int(round(stack[0].W.shape[0] ** 0.5))
    folder = folder or os.path.join(workdir, "samples")
    key = jax.random.PRNGKey(seed)
    if classes:
        labels = jnp.repeat(jnp.arange(classes), n)
        fn = jax.jit(lambda k, y: dbn.generate(k, stack, len(y), y, classes, sweeps, top.hidden))
        images, path = fn(key, labels), os.path.join(folder, "by_class.png")
    else:
        fn = jax.jit(lambda k: dbn.generate(k, stack, n * n, sweeps=sweeps, code=top.hidden))
        images, path = fn(key), os.path.join(folder, "samples.png")
    viz.save_grid(np.asarray(images).reshape(-1, side, side), path, columns=n)
    agreement = None
    if classifier is not None:
        raw = jnp.concatenate([jnp.asarray(images), labels[:, None].astype(jnp.float32)], axis=1)
        predicted = classifier.task.evaluate(key, classifier.state.params, classifier.task.preprocess(key, raw))
        agreement = 1.0 - float(jnp.mean(predicted["error"]))
    return [path], agreement


def rbm_likelihood(run: Run, images: np.ndarray, chains: int, temperatures: int) -> dict:
    """AIS log Z (base rate from the binarized training data) and the mean test log-likelihood
    -F(v) - log Z; with at most 24 units in one layer, also the exact log Z."""
    from jaxae.models import rbm
    from jaxae.samplers import ais

    params = run.state.params
    train = steps.eval_inputs(run.task, run.state.key, jnp.asarray(run.data.train_images))
    test = steps.eval_inputs(run.task, run.state.key, jnp.asarray(images))
    key = jax.random.fold_in(steps.eval_key(run.state.key), 4)
    estimate = jax.jit(ais.log_partition, static_argnums=(3, 4))(
        key, params, ais.base_rate_biases(train), chains, temperatures)
    free_energies = np.asarray(rbm.free_energy(params, test), np.float64)
    mean_free_energy = float(free_energies.mean())
    # standard error of the mean log-likelihood: the test sample's spread and the AIS error of log Z
    sample_se = float(free_energies.std(ddof=1) / math.sqrt(len(free_energies)))
    out = {"ais_log_z": float(estimate.log_z), "ais_log_z_stderr": float(estimate.log_z_std),
           "ais_ess": float(estimate.ess), "ais_chains": chains, "ais_temperatures": temperatures,
           "test_log_likelihood": -mean_free_energy - float(estimate.log_z),
           "test_log_likelihood_stderr": math.hypot(sample_se, float(estimate.log_z_std))}
    if min(params.W.shape) <= 24:
        out["exact_log_z"] = float(rbm.exact_log_partition(params))
        out["test_log_likelihood_exact"] = -mean_free_energy - out["exact_log_z"]
    return out


def rating_matrices(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The run's user-major (train, test) rating matrices (n_users, n_items) uint8, 0 = unrated."""
    from jaxae.data import movielens

    train, test = run.data.train_images, run.data.test_images[:, 1]
    if run.task.adapt_data is movielens.transpose:  # item-major data (I-AutoRec, item-based CF-RBM): turn it back
        train, test = train.T, test.T
    return np.asarray(train), np.asarray(test)


def recommender_metrics(run: Run, n: int = 10) -> dict:
    """Top-n metrics of the run's predictions (made from the training ratings only) and the RMSE /
    MAE of the global-mean and user+item bias baselines on the same split."""
    from jaxae import recsys

    train, test = rating_matrices(run)
    scores = run.task.predict(run.state.params, train)
    ranking = recsys.top_n(scores, train, test, n)
    biases = recsys.fit_biases(train.astype(np.float64))
    base_rmse, base_mae = recsys.rmse_mae(biases.predict(), test.astype(np.float64))
    mean_rmse, mean_mae = recsys.rmse_mae(recsys.global_mean(train.astype(np.float64)), test.astype(np.float64))
    return {f"precision@{n}": ranking.precision, f"recall@{n}": ranking.recall, f"ndcg@{n}": ranking.ndcg,
            "ranked_users": ranking.users, "bias_rmse": base_rmse, "bias_mae": base_mae,
            "global_mean_rmse": mean_rmse, "global_mean_mae": mean_mae}


def _scores_for(run: Run, user: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(user-major training matrix, scores of every user, titles) for a 1-based user id, checked."""
    from jaxae.data import movielens

    if run.task.predict is None:
        raise ConfigError(f"{run.path} is a {run.model} run, not a recommender (cf-rbm, rbm-binary, autorec)")
    train, _ = rating_matrices(run)
    if not 1 <= user <= train.shape[0]:
        raise ConfigError(f"unknown user {user}: {run.data.name} has users 1..{train.shape[0]}")
    titles = movielens.load_named(run.data.name, data_dir, download_ok=False).titles
    scores = run.task.predict(run.state.params, train)  # item-based models need every user's column
    return train, scores, titles


def recommend_for(run: Run, user: int, top: int = 10, data_dir: str | None = None) -> list[tuple[str, float]]:
    """(title, score) of the `top` unrated movies with the highest scores for `user` (1-based id)."""
    from jaxae import recsys

    train, scores, titles = _scores_for(run, user, data_dir)
    return [(titles[i], s) for i, s in recsys.recommend(scores, train, user - 1, top)]


def predict_one(run: Run, user: int, movie: int, data_dir: str | None = None) -> tuple[str, float, int]:
    """(title, score, training rating or 0) for a 1-based user and movie id."""
    n_items = rating_matrices(run)[0].shape[1]
    if not 1 <= movie <= n_items:
        raise ConfigError(f"unknown movie {movie}: {run.data.name} has movies 1..{n_items}")
    train, scores, titles = _scores_for(run, user, data_dir)
    return titles[movie - 1], float(scores[user - 1, movie - 1]), int(train[user - 1, movie - 1])
