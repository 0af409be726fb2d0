"""`jaxae eval --run DIR`: a trained run's test metrics and what its model offers to measure (IS-NLL,
AIS log-likelihood, a DBM's AIS lower bound, recommender metrics, the PCA baseline)."""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxae import pca, rbm, recsys
from jaxae.apps.options import AIS_DEFAULTS
from jaxae.apps.recommend import rating_matrices, recommender
from jaxae.data import n_examples, take
from jaxae.errors import CheckpointError, ConfigError, JaxaeError
from jaxae.likelihood import dataset_nll
from jaxae.tasks import Run, load_run
from jaxae.train import RunDir, steps
from jaxae.train import summaries as summaries_lib
from jaxae.train.loop import summarized


def on_device(tree):
    """A split's examples (an array or a pytree of them) as device arrays."""
    return jax.tree.map(jnp.asarray, tree)


def check_finite_params(run: Run) -> None:
    """Raises CheckpointError when the run's parameters hold NaN or inf (a diverged run)."""
    leaves = jax.tree_util.tree_leaves_with_path(run.state.params)
    bad = [jax.tree_util.keystr(path) for path, x in leaves if not np.all(np.isfinite(np.asarray(x)))]
    if bad:
        raise CheckpointError(f"the parameters of {run.path} (epoch {run.epoch}) contain NaN or inf in "
                              f"{', '.join(bad[:3])}: the training diverged; retrain with a lower learning rate "
                              "or restore an earlier checkpoint")


def evaluate_run(run: Run, k: int = 5000, chunk: int = 500, batch_size: int = 100, limit: int | None = None,
                 progress: bool = True, ais_chains: int = 0, ais_temperatures: int = 14_500,
                 ais_schedule: str = "uniform") -> dict:
    """Test metrics of the run's model and, for models with an importance-sampled likelihood, the
    k-sample IS-NLL; for RBMs with `ais_chains` > 0, the AIS estimate of log Z and the test
    log-likelihood (AIS with `ais_temperatures` spaced by `ais_schedule`, see `jaxae.rbm.ais.temperatures`).

    Returns:
      A dict; written to RUN/eval.json too.
    """
    check_finite_params(run)
    offers = run.offers
    images = take(run.data.test_images, slice(0, limit)) if limit else run.data.test_images
    metrics = summarized(run.task, steps.evaluate(run.task, 1000, run.state, on_device(images)))
    result = {"run": run.path, "epoch": run.epoch, "n_test": n_examples(images),
              **{f"test_{name}": float(v) for name, v in metrics.items()}}
    if offers.likelihood is not None:
        x = steps.eval_inputs(run.task, run.state.key, on_device(images))
        key = jax.random.fold_in(steps.eval_key(run.state.key), 3)
        bar = (lambda it: tqdm(it, desc=f"IS-NLL k={k}")) if progress else None
        nll = dataset_nll(key, offers.likelihood.log_weights, run.state.params, x, k, min(chunk, k), batch_size, bar)
        result.update(is_nll=float(nll.mean()), is_nll_stderr=float(nll.std(ddof=1) / math.sqrt(len(nll))), k=k)
        if offers.likelihood.test_inputs:
            result["test_binarization"] = offers.likelihood.test_inputs
    if offers.pca_baseline:
        result.update(pca_baseline(run, images))
    if offers.recommender is not None:
        result.update(recommender_metrics(run))
    if offers.boltzmann is not None and ais_chains:
        result.update(rbm_likelihood(run, images, ais_chains, ais_temperatures, ais_schedule))
    if offers.deep_boltzmann is not None and ais_chains:
        result.update(dbm_lower_bound(run, images, ais_chains, ais_temperatures, ais_schedule))
    RunDir(run.path).write_eval(result)
    summaries = summaries_lib.for_run(RunDir(run.path), run.train.log)
    if summaries is not None:  # the evaluation beside the training curves, at the run's epoch
        summaries.scalars({k: v for k, v in result.items() if k not in ("epoch", "n_test", "k")}, run.epoch, "eval")
        summaries.close()
    return result


def _code_size(run: Run) -> int:
    if run.offers.codec is None:
        raise ConfigError(f"{run.path} is a {run.model} run, which has no code to compare with PCA")
    return run.offers.codec.latent


def fit_pca(run: Run) -> pca.PCA:
    """PCA with as many components as the run's code, fitted on its (preprocessed) training images."""
    return pca.fit(steps.eval_inputs(run.task, run.state.key, on_device(run.data.train_images)), _code_size(run))


def pca_baseline(run: Run, images) -> dict:
    """Test squared reconstruction error per image of PCA at the run's code size (see fit_pca)."""
    test = steps.eval_inputs(run.task, run.state.key, on_device(images))
    return {"pca_components": _code_size(run),
            "pca_test_squared_error": float(jnp.mean(pca.squared_error(fit_pca(run), test)))}


def rbm_likelihood(run: Run, images, chains: int, temperatures: int, schedule: str = "uniform") -> dict:
    """AIS log Z (base rate from the binarized training data) and the mean test log-likelihood
    -F(v) - log Z; with at most 24 units in an enumerable layer, also the exact log Z.

    Raises:
      JaxaeError: the run's data have no log-likelihood (e.g. probabilities), or AIS does not handle
        the RBM's unit types.
    """
    boltzmann = run.offers.boltzmann
    if boltzmann is None:
        raise ConfigError(f"--ais estimates an RBM's log Z, but {run.path} is a {run.model} run; drop --ais")
    params = boltzmann.rbm(run.state.params)
    if boltzmann.likelihood:
        raise JaxaeError(f"--ais: {run.path} has no test log-likelihood ({boltzmann.likelihood}); drop --ais")
    rbm.ais.check_supported(params)
    train = steps.eval_inputs(run.task, run.state.key, on_device(run.data.train_images))
    test = steps.eval_inputs(run.task, run.state.key, on_device(images))
    key = jax.random.fold_in(steps.eval_key(run.state.key), 4)
    estimate = jax.jit(rbm.ais.log_partition, static_argnums=(3, 4, 5))(
        key, params, rbm.ais.base_rate_biases(train), chains, temperatures, schedule)
    free_energies = np.asarray(rbm.free_energy(params, test), np.float64)
    mean_free_energy = float(free_energies.mean())
    # standard error of the mean log-likelihood: the test sample's spread and the AIS error of log Z
    sample_se = float(free_energies.std(ddof=1) / math.sqrt(len(free_energies)))
    out: dict[str, Any] = {"ais_log_z": float(estimate.log_z), "ais_log_z_stderr": float(estimate.log_z_std),
                           "ais_ess": float(estimate.ess), "ais_chains": chains, "ais_temperatures": temperatures,
                           "ais_schedule": schedule,
                           "test_mean_free_energy": mean_free_energy,
                           "test_log_likelihood": -mean_free_energy - float(estimate.log_z),
                           "test_log_likelihood_stderr": math.hypot(sample_se, float(estimate.log_z_std))}
    try:
        out["exact_log_z"] = float(rbm.exact_log_partition(params))
    except JaxaeError:  # no layer small enough to enumerate
        return out
    out["test_log_likelihood_exact"] = -mean_free_energy - out["exact_log_z"]
    return out


def dbm_lower_bound(run: Run, images, chains: int, temperatures: int, schedule: str = "uniform",
                    mean_field_updates: int = 50) -> dict:
    """AIS log Z of a DBM (over its odd layers, base rate from the binarized training data) and the mean
    test variational lower bound on log p(v) (mean field with `mean_field_updates` updates); with at
    most 24 units in the odd layers, also the exact log Z.

    Raises:
      JaxaeError: the run's data have no log-likelihood (probabilities), or the test inputs are not binary.
    """
    deep = run.offers.deep_boltzmann
    if deep is None:
        raise ConfigError(f"--ais estimates a DBM's log Z, but {run.path} is a {run.model} run; drop --ais")
    if deep.likelihood:
        raise JaxaeError(f"--ais: {run.path} has no test log-likelihood ({deep.likelihood}); drop --ais")
    params = deep.dbm(run.state.params)
    train = steps.eval_inputs(run.task, run.state.key, on_device(run.data.train_images))
    test = steps.eval_inputs(run.task, run.state.key, on_device(images))
    rbm.dbm.check_binary(np.asarray(test))
    key = jax.random.fold_in(steps.eval_key(run.state.key), 4)
    estimate = jax.jit(rbm.dbm.log_partition, static_argnums=(3, 4, 5))(
        key, params, rbm.ais.base_rate_biases(train), chains, temperatures, schedule)
    updates = max(mean_field_updates, deep.mean_field_updates)
    bound = jax.jit(lambda v: rbm.dbm.unnormalized_bound(params, v, rbm.dbm.mean_field(params, v, updates, deep.damping)))
    bounds = np.concatenate([np.asarray(bound(test[i:i + 1000]), np.float64) for i in range(0, test.shape[0], 1000)])
    sample_se = float(bounds.std(ddof=1) / math.sqrt(len(bounds)))
    out: dict[str, Any] = {"ais_log_z": float(estimate.log_z), "ais_log_z_stderr": float(estimate.log_z_std),
                           "ais_ess": float(estimate.ess), "ais_chains": chains, "ais_temperatures": temperatures,
                           "ais_schedule": schedule,
                           "mean_field_updates": updates, "test_unnormalized_bound": float(bounds.mean()),
                           "test_lower_bound": float(bounds.mean()) - float(estimate.log_z),
                           "test_lower_bound_stderr": math.hypot(sample_se, float(estimate.log_z_std))}
    try:
        out["exact_log_z"] = float(rbm.dbm.exact_log_partition(params))
    except JaxaeError:  # too many odd units to enumerate
        return out
    out["test_lower_bound_exact"] = float(bounds.mean()) - out["exact_log_z"]
    return out


def dbn_lower_bound(workdir: str, data_dir: str | None, chains: int, temperatures: int, schedule: str = "uniform",
                    samples: int = 10) -> dict:
    """The test variational lower bound on log p(v) of a DBN of Bernoulli units (the --workdir of `jaxae train
    dbn`, `jaxae.rbm.dbn.lower_bound` with `samples` draws per test image) and the AIS log Z of its top RBM
    (base rate from the top RBM's own training inputs).

    Raises:
      JaxaeError: label or Gaussian units, data without a log-likelihood, or test inputs that are not binary.
    """
    from jaxae.tasks.dbn import load_stack

    n_layers = 0
    while os.path.isdir(os.path.join(workdir, f"layer_{n_layers + 1}")):
        n_layers += 1
    bottom = load_run(os.path.join(workdir, "layer_1"), data_dir)
    boltzmann = bottom.offers.boltzmann
    if boltzmann is None or boltzmann.likelihood:
        why = boltzmann.likelihood if boltzmann else "its bottom layer is not an RBM"
        raise JaxaeError(f"--ais: the DBN in {workdir} has no test log-likelihood ({why}); drop --ais")
    top = load_run(os.path.join(workdir, f"layer_{n_layers}"), data_dir) if n_layers > 1 else bottom
    stack = load_stack(workdir)
    rbm.dbn.lower_bound(jax.random.key(0), stack, jnp.zeros((1, stack[0].W.shape[0])), 0.0, 1)  # refuses labels
    test = steps.eval_inputs(bottom.task, bottom.state.key, on_device(bottom.data.test_images))
    rbm.check_binary(np.asarray(test))
    top_train = steps.eval_inputs(top.task, top.state.key, on_device(top.data.train_images))
    key = jax.random.fold_in(steps.eval_key(bottom.state.key), 4)
    estimate = jax.jit(rbm.ais.log_partition, static_argnums=(3, 4, 5))(
        key, stack[-1], rbm.ais.base_rate_biases(top_train), chains, temperatures, schedule)
    bound = jax.jit(lambda k, v: rbm.dbn.lower_bound(k, stack, v, 0.0, samples))
    bounds = np.concatenate([np.asarray(bound(jax.random.fold_in(key, 1 + i), test[i:i + 1000]), np.float64)
                             for i in range(0, test.shape[0], 1000)])
    sample_se = float(bounds.std(ddof=1) / math.sqrt(len(bounds)))
    try:
        exact = {"exact_log_z": float(rbm.exact_log_partition(stack[-1]))}
    except JaxaeError:  # no layer of the top RBM small enough to enumerate
        exact = {}
    return {**exact, "model": "dbn", "layers": [int(p.W.shape[1]) for p in stack], "epochs": [bottom.epoch, top.epoch],
            "ais_log_z": float(estimate.log_z), "ais_log_z_stderr": float(estimate.log_z_std),
            "ais_ess": float(estimate.ess), "ais_chains": chains, "ais_temperatures": temperatures,
            "ais_schedule": schedule,
            "bound_samples": samples, "test_unnormalized_bound": float(bounds.mean()),
            "test_lower_bound": float(bounds.mean()) - float(estimate.log_z),
            "test_lower_bound_stderr": math.hypot(sample_se, float(estimate.log_z_std)), "n_test": len(bounds)}


def _ais_defaults(args) -> None:
    """Refuses --ais-chains, --ais-temperatures or --ais-schedule without --ais (they would be ignored), and
    fills in the defaults of those not given."""
    given = [f"--{name.replace('_', '-')}" for name in AIS_DEFAULTS if getattr(args, name) is not None]
    if given and not args.ais:
        raise JaxaeError(f"{', '.join(given)} only take effect with --ais; add --ais to estimate log Z, or drop them")
    for name, default in AIS_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def check_ais_options(args) -> None:
    """Refuses --ais-chains, --ais-temperatures and --ais-schedule that AIS cannot run, before any work."""
    if args.ais_chains < 2 or args.ais_temperatures < 2:
        raise JaxaeError("--ais-chains and --ais-temperatures must be at least 2")
    try:  # the schedule's own minimum
        rbm.ais.temperatures(args.ais_temperatures, args.ais_schedule)
    except ConfigError as e:
        raise ConfigError(f"--ais-schedule {args.ais_schedule} with --ais-temperatures {args.ais_temperatures}: {e}; "
                          "raise --ais-temperatures") from e


def dbn_command(args) -> int:
    """`jaxae eval --run DBN_WORKDIR --ais`: the DBN's test lower bound."""
    if not args.ais:
        raise JaxaeError(f"{args.run} holds a DBN's layers: pass --ais for its test lower bound, or --run "
                         f"{os.path.join(args.run, 'layer_1')} for one layer's metrics")
    check_ais_options(args)
    result = dbn_lower_bound(args.run, args.data_dir, args.ais_chains, args.ais_temperatures, args.ais_schedule)
    print(json.dumps(result))
    exact = f" (exact {result['exact_log_z']:.2f})" if "exact_log_z" in result else ""
    print(f"dbn {'-'.join(map(str, result['layers']))}: AIS log Z of the top RBM {result['ais_log_z']:.2f} ± "
          f"{result['ais_log_z_stderr']:.2f}{exact} ({result['ais_chains']} chains, {result['ais_temperatures']} {result['ais_schedule']} temperatures, "
          f"effective sample size {result['ais_ess']:.0f}), test lower bound on log p(v) "
          f"{result['test_lower_bound']:.2f} ± {result['test_lower_bound_stderr']:.2f} nats over {result['n_test']} "
          "test images")
    _warn_ess(result)
    return 0


def _warn_ess(result: dict) -> None:
    if result["ais_ess"] < 0.1 * result["ais_chains"] or result["ais_log_z_stderr"] > 0.5:
        print("jaxae: warning: the AIS weights are dominated by a few chains, so log Z is probably "
              "underestimated and the log-likelihood (or bound) too good; rerun with more --ais-temperatures and "
              "--ais-chains and compare", file=sys.stderr)


def recommender_metrics(run: Run, n: int = 10) -> dict:
    """Top-n metrics of the run's predictions (made from the training ratings only) and the RMSE /
    MAE of the global-mean and user+item bias baselines on the same split."""
    train, test = rating_matrices(run)
    scores = recommender(run).predict(run.state.params, train)
    ranking = recsys.top_n(scores, train, test, n)
    biases = recsys.fit_biases(train.astype(np.float64))
    base_rmse, base_mae = recsys.rmse_mae(biases.predict(), test.astype(np.float64))
    mean_rmse, mean_mae = recsys.rmse_mae(recsys.global_mean(train.astype(np.float64)), test.astype(np.float64))
    return {f"precision@{n}": ranking.precision, f"recall@{n}": ranking.recall, f"ndcg@{n}": ranking.ndcg,
            "ranked_users": ranking.users, "bias_rmse": base_rmse, "bias_mae": base_mae,
            "global_mean_rmse": mean_rmse, "global_mean_mae": mean_mae}


def eval_command(args) -> int:
    _ais_defaults(args)
    if not os.path.isfile(os.path.join(args.run, "config.json")):
        if os.path.isdir(os.path.join(args.run, "joint")):
            raise JaxaeError(f"{args.run} holds a DBM's stages; evaluate the DBM with --run {os.path.join(args.run, 'joint')}")
        if os.path.isdir(os.path.join(args.run, "layer_1")):
            return dbn_command(args)
    run = load_run(args.run, args.data_dir, args.index)
    if args.ais:
        if run.offers.boltzmann is None and run.offers.deep_boltzmann is None:
            raise JaxaeError(f"--ais estimates an RBM's or a DBM's log Z, but {args.run} is a {run.model} run; drop --ais")
        check_ais_options(args)
    result = evaluate_run(run, args.k, args.chunk, args.batch_size, args.limit, progress=not args.no_progress,
                          ais_chains=args.ais_chains if args.ais else 0, ais_temperatures=args.ais_temperatures,
                          ais_schedule=args.ais_schedule)
    print(json.dumps(result))
    if "test_lower_bound" in result:
        exact = f" (exact {result['exact_log_z']:.2f})" if "exact_log_z" in result else ""
        print(f"{run.model} epoch {run.epoch}: AIS log Z {result['ais_log_z']:.2f} ± {result['ais_log_z_stderr']:.2f}"
              f"{exact} ({result['ais_chains']} chains, {result['ais_temperatures']} {result['ais_schedule']} temperatures, effective sample "
              f"size {result['ais_ess']:.0f}), test lower bound on log p(v) {result['test_lower_bound']:.2f} ± "
              f"{result['test_lower_bound_stderr']:.2f} nats over {result['n_test']} test images")
    elif "ais_log_z" in result:
        exact = f" (exact {result['exact_log_z']:.2f})" if "exact_log_z" in result else ""
        print(f"{run.model} epoch {run.epoch}: AIS log Z {result['ais_log_z']:.2f} ± {result['ais_log_z_stderr']:.2f}"
              f"{exact}, test log-likelihood {result['test_log_likelihood']:.2f} ± "
              f"{result['test_log_likelihood_stderr']:.2f} nats over {result['n_test']} test images"
              f" (AIS effective sample size {result['ais_ess']:.0f} of {result['ais_chains']} chains)")
    if "ais_log_z" in result:
        _warn_ess(result)
    if "precision@10" in result:
        errors = (f"RMSE {result['test_rmse']:.4f}, MAE {result['test_mae']:.4f}" if "test_rmse" in result
                  else f"like/dislike MAE {result['test_mae']:.4f}")
        print(f"{run.model} epoch {run.epoch} on {run.data.name}: {errors} over the held-out ratings "
              f"(bias baseline RMSE {result['bias_rmse']:.4f}, global mean {result['global_mean_rmse']:.4f}); "
              f"precision@10 {result['precision@10']:.4f}, recall@10 {result['recall@10']:.4f}, "
              f"NDCG@10 {result['ndcg@10']:.4f} over {result['ranked_users']} users")
    if "pca_test_squared_error" in result:
        ratio = result["pca_test_squared_error"] / result["test_squared_error"]
        print(f"{run.model} epoch {run.epoch}: test squared error per image {result['test_squared_error']:.3f}; "
              f"PCA with {result['pca_components']} components {result['pca_test_squared_error']:.3f} "
              f"({ratio:.2f}x the autoencoder's)")
    if "is_nll" in result:
        print(f"{run.model} epoch {run.epoch}: test -ELBO {result['test_neg_elbo']:.2f} nats, "
              f"IS-NLL (k={args.k}) {result['is_nll']:.2f} ± {result['is_nll_stderr']:.2f} nats "
              f"over {result['n_test']} test images")
    return 0
