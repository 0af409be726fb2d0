"""`jaxae sample --run DIR`: the chapter's applications as pictures, from what a run's model offers
(a latent codec, an RBM, a DBM); `jaxae sample dbn --run WORKDIR` draws digits from a pretrained DBN."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import pca, rbm, viz
from jaxae.apps.dictionary import sample_dictionary, unit_rows
from jaxae.apps.evaluate import check_finite_params, fit_pca, on_device
from jaxae.data import n_examples, take
from jaxae.errors import ConfigError, JaxaeError
from jaxae.tasks import Run, load_run
from jaxae.tasks.dbn import load_stack
from jaxae.train import RunDir, steps
from jaxae.train import summaries as summaries_lib


def sample_run(run: Run, n: int = 64, seed: int = 0, folder: str | None = None) -> list[str]:
    """Writes the chapter's application pictures for the run; returns their paths.

    prior.png (decoded draws from N(0, I), VAEs; by_class.png, one row per class, for conditional
    models), interpolation.png (between pairs of test digits in
    latent space), latent_map.png (test codes coloured by label; a PCA projection above 2-D),
    denoise.png (noisy | denoised | clean rows, denoising models), and vs_pca.png (test digits |
    autoencoder | PCA with as many components as the code, for models compared with PCA); for RBMs,
    filters.png and samples.png (see sample_rbm); for sparse autoencoders atoms.png and
    top_activating.png (see jaxae.apps.dictionary.sample_dictionary).
    """
    check_finite_params(run)
    if run.offers.boltzmann is not None:
        return sample_rbm(run, n, seed, folder)
    if run.offers.deep_boltzmann is not None:
        return sample_dbm(run, n, seed, folder)
    if run.offers.dictionary is not None:
        return sample_dictionary(run, min(n, 16), folder, run.data_dir)
    codec = run.offers.codec
    if codec is None:
        raise ConfigError(f"the {run.model} model has no latent space to sample from")
    folder = folder or RunDir(run.path).samples
    key = jax.random.PRNGKey(seed)
    params = run.state.params
    image_shape, test_labels = run.data.image_shape, run.data.test_labels
    if image_shape is None or test_labels is None:
        raise ConfigError(f"{run.path}'s examples are not labelled images, so there is nothing to draw")
    h, w = image_shape
    shape = lambda a: np.asarray(a).reshape(-1, h, w)  # noqa: E731
    x = steps.eval_inputs(run.task, run.state.key, on_device(take(run.data.test_images, slice(0, 5000))))
    labels = np.asarray(test_labels[:5000])
    reconstruct = codec.reconstruct or (lambda params, x: x)
    written = []

    if codec.prior and codec.classes:  # a conditional model: one row of draws from the prior per class
        per_class = max(1, min(n // codec.classes, 10)) if n >= codec.classes else 1
        y = jnp.repeat(jnp.arange(codec.classes), per_class)
        z = jax.random.normal(key, (len(y), codec.latent))
        path = os.path.join(folder, "by_class.png")
        viz.save_grid(shape(codec.decode(params, z, y)), path, columns=per_class)
        written.append(path)
    elif codec.prior:
        z = jax.random.normal(key, (n, codec.latent))
        path = os.path.join(folder, "prior.png")
        viz.save_grid(shape(codec.decode(params, z)), path)
        written.append(path)

    pairs = [(int(np.flatnonzero(labels == a)[0]), int(np.flatnonzero(labels == b)[0]))
             for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)] if (labels == a).any() and (labels == b).any()]
    if pairs:
        codes = codec.encode(params, take(x, np.array([i for p in pairs for i in p])))
        t = jnp.linspace(0.0, 1.0, 10)[:, None]
        rows = jnp.concatenate([(1 - t) * codes[2 * r] + t * codes[2 * r + 1] for r in range(len(pairs))])
        if codec.classes:  # decoded with the label of the row's first digit
            decoded = codec.decode(params, rows, jnp.repeat(jnp.asarray([labels[a] for a, _ in pairs]), 10))
        else:
            decoded = codec.decode(params, rows)
        path = os.path.join(folder, "interpolation.png")
        viz.save_grid(shape(decoded), path, columns=10)
        written.append(path)

    codes = np.concatenate([np.asarray(codec.encode(params, take(x, slice(i, i + 1000))))
                            for i in range(0, n_examples(x), 1000)])
    title = f"{run.model}: test codes (latent {codec.latent})"
    if codes.shape[1] > 2:
        centred = codes - codes.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        codes, title = centred @ vt[:2].T, title + ", first two principal components"
    path = os.path.join(folder, "latent_map.png")
    viz.save_latent_map(codes[:, :2], labels, path, title)
    written.append(path)

    if run.offers.pca_baseline:  # Hinton & Salakhutdinov's figure: data | autoencoder | PCA
        fitted = fit_pca(run)
        firsts = np.array([int(np.flatnonzero(labels == c)[0]) for c in range(10) if (labels == c).any()])
        panels = [x[firsts], reconstruct(params, x[firsts]), pca.decode(fitted, pca.encode(fitted, x[firsts]))]
        path = os.path.join(folder, "vs_pca.png")
        viz.save_grid(np.clip(np.concatenate([shape(p) for p in panels]), 0, 1), path, columns=len(firsts))
        written.append(path)

    if codec.corrupt is not None:
        clean = x[:8]
        noisy = codec.corrupt(jax.random.fold_in(key, 1), clean)
        denoised = reconstruct(params, noisy)
        path = os.path.join(folder, "denoise.png")
        viz.save_grid(np.concatenate([shape(noisy), shape(denoised), shape(clean)]), path)
        written.append(path)
    return written


def sample_dbm(run: Run, n: int = 64, seed: int = 0, folder: str | None = None, sweeps: int = 1000) -> list[str]:
    """A DBM's filters.png (the first 100 columns of W_1), samples.png (p(v | h1) after `sweeps` Gibbs sweeps
    of n fresh chains) and chains.png (p(v | h1) of the persistent chains as training left them)."""
    image_shape, deep = run.data.image_shape, run.offers.deep_boltzmann
    if image_shape is None or deep is None:
        raise ConfigError(f"{run.path} is not a DBM on images; nothing to draw")
    folder = folder or RunDir(run.path).samples
    params = deep.dbm(run.state.params)
    h, w = image_shape
    paths = [os.path.join(folder, name) for name in ("filters.png", "samples.png", "chains.png")]
    viz.save_grid(unit_rows(np.asarray(params.weights[0].T[:100])).reshape(-1, h, w), paths[0], columns=10)
    key = jax.random.PRNGKey(seed)
    chains = rbm.dbm.init_chains(key, params, n)
    _, info = jax.jit(rbm.dbm.run, static_argnums=3)(jax.random.fold_in(key, 1), chains, params, sweeps)
    viz.save_grid(np.asarray(info.even_means[0]).reshape(-1, h, w), paths[1])
    persistent = run.state.est_state.layers[1][:n]
    p_v = jax.nn.sigmoid(persistent @ params.weights[0].T + params.biases[0])
    viz.save_grid(np.asarray(p_v).reshape(-1, h, w), paths[2])
    return paths


def sample_rbm(run: Run, n: int = 64, seed: int = 0, folder: str | None = None, sweeps: int = 1000) -> list[str]:
    """filters.png (the first 100 columns of W as images, each scaled to [0, 1]) and samples.png
    (p(v | h) after `sweeps` Gibbs sweeps of n chains started from random pixels)."""
    image_shape, boltzmann = run.data.image_shape, run.offers.boltzmann
    if image_shape is None:
        raise ConfigError(f"the visible units of {run.path} are not an image (a DBN's upper layer?); draw digits "
                          "from the whole stack with jaxae sample dbn --run WORKDIR")
    if boltzmann is None:
        raise ConfigError(f"{run.path} is a {run.model} run, not an RBM")
    folder = folder or RunDir(run.path).samples
    params = boltzmann.rbm(run.state.params)
    h, w = image_shape
    filters = unit_rows(np.asarray(params.W.T[:100]))
    paths = [os.path.join(folder, "filters.png"), os.path.join(folder, "samples.png")]
    viz.save_grid(filters.reshape(-1, h, w), paths[0], columns=10)
    key = jax.random.PRNGKey(seed)
    v0 = jax.random.bernoulli(key, 0.5, (n, h * w)).astype(jnp.float32)
    run_chain = jax.jit(rbm.gibbs.run, static_argnums=3)
    _, info = run_chain(jax.random.fold_in(key, 1), rbm.gibbs.init(key, params, v0), params, sweeps)
    viz.save_grid(np.asarray(info.p_v).reshape(-1, h, w), paths[1])
    return paths


def sample_dbn(workdir: str, n: int = 10, seed: int = 0, sweeps: int = 1000, folder: str | None = None,
               classifier: Run | None = None) -> tuple[list[str], float | None]:
    """Digits generated by a pretrained DBN (`jaxae train dbn --workdir WORKDIR`): by_class.png, one row
    of n samples per class, when its top RBM has label units (--labels), else samples.png with n x n
    samples; each after `sweeps` Gibbs sweeps in the top RBM and the top-down pass.

    With a `classifier` run (one that offers class predictions) and label units, also returns the
    fraction of generated digits that the classifier assigns to the class they were generated for."""
    stack = load_stack(workdir)
    classes = stack[-1].units.labels
    if classifier is not None and not classes:
        raise ConfigError("--classifier checks digits generated by class; the DBN was trained without --labels")
    predictor = classifier.offers.classifier if classifier is not None else None
    if classifier is not None and predictor is None:
        raise ConfigError(f"--classifier needs a classifier run (dbn-classifier), got a {classifier.model} run")
    for params in stack:
        rbm.check_finite(params)
    side = int(round(stack[0].W.shape[0] ** 0.5))
    folder = folder or os.path.join(workdir, "samples")
    key = jax.random.PRNGKey(seed)
    if classes:
        labels = jnp.repeat(jnp.arange(classes), n)
        fn = jax.jit(lambda k, y: rbm.dbn.generate(k, stack, len(y), y, sweeps))
        images, path = fn(key, labels), os.path.join(folder, "by_class.png")
    else:
        fn = jax.jit(lambda k: rbm.dbn.generate(k, stack, n * n, sweeps=sweeps))
        images, path = fn(key), os.path.join(folder, "samples.png")
    viz.save_grid(np.asarray(images).reshape(-1, side, side), path, columns=n)
    agreement = None
    if classifier is not None and predictor is not None:
        predicted = predictor.predict(classifier.state.params, jnp.asarray(images))
        agreement = float(jnp.mean(predicted == labels))
    return [path], agreement


def sample_command(args) -> int:
    if (args.n is not None and args.n < 1) or args.sweeps < 1:
        raise JaxaeError("--n and --sweeps must be at least 1")
    if args.what == "dbn":
        if args.index is not None:
            raise JaxaeError("--index picks a model of a --seeds/--sweep run; jaxae sample dbn takes a DBN's --workdir")
        classifier = load_run(args.classifier, args.data_dir) if args.classifier else None
        paths, agreement = sample_dbn(args.run, args.n or 10, args.seed, args.sweeps, classifier=classifier)
        if agreement is not None:
            print(f"{args.classifier} classifies {100 * agreement:.1f}% of the generated digits as the class they "
                  "were generated for")
    else:
        if args.classifier:
            raise JaxaeError("--classifier is for jaxae sample dbn")
        run = load_run(args.run, args.data_dir, args.index)
        paths = sample_run(run, args.n or 64, args.seed)
        summaries = summaries_lib.for_run(RunDir(run.path), run.train.log)
        if summaries is not None:  # the pictures beside the training curves, at the run's epoch
            for path in paths:
                summaries.image(f"samples/{os.path.splitext(os.path.basename(path))[0]}", path, run.epoch)
            summaries.close()
    for path in paths:
        print(path)
    return 0
