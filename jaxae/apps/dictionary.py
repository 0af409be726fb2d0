"""Pictures of a learnt dictionary (a sparse autoencoder run): its atoms and, for each of its most-used
latents, the test examples that activate it most."""
from __future__ import annotations

import logging
import os

import jax
import numpy as np

from jaxae import data as jdata
from jaxae import viz
from jaxae.apps.evaluate import on_device
from jaxae.data import activations, n_examples, take
from jaxae.errors import ConfigError
from jaxae.tasks import Run
from jaxae.train import RunDir, steps

EXAMPLES = 10_000  # test examples searched for each latent's top activations
PER_ROW = 8


def latent_activations(run: Run, limit: int = EXAMPLES, batch_size: int = 1000) -> np.ndarray:
    """(examples, n) the dictionary's inference activations on the first `limit` test examples."""
    dictionary = run.offers.dictionary
    assert dictionary is not None  # (the caller dispatches on it)
    encode = jax.jit(lambda params, raw: dictionary.encode(params, steps.eval_inputs(run.task, run.state.key, raw)))
    n = min(limit, n_examples(run.data.test_images))
    return np.concatenate([np.asarray(encode(run.state.params, on_device(take(run.data.test_images, slice(i, i + batch_size)))))
                           for i in range(0, n, batch_size)])[:n]


def source_images(run: Run, data_dir: str | None = None) -> np.ndarray | None:
    """(n_test, h, w) images of the run's test examples: the examples themselves when they are images,
    the digits they were computed from when they are activations (jaxae activations), else None."""
    if run.data.image_shape is not None:
        return np.asarray(jdata.images_of(run.data.test_images))
    record = activations.origin(run.data.source) if run.data.source and run.data.on_disk else None
    if record is None:
        return None
    source = jdata.load(record["data"], data_dir or record.get("data_dir"), download=False)
    if source.image_shape is None or n_examples(source.test_images) != n_examples(run.data.test_images):
        return None
    return np.asarray(jdata.images_of(source.test_images))


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1]."""
    low, high = a.min(axis=-1, keepdims=True), a.max(axis=-1, keepdims=True)
    return (a - low) / np.maximum(high - low, 1e-8)


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)


def sample_dictionary(run: Run, n: int = 16, folder: str | None = None, data_dir: str | None = None) -> list[str]:
    """atoms.png (the decoder rows of the n most-used latents as images, for an SAE on pixels) and
    top_activating.png (one row per most-used latent: its atom first when the inputs are pixels, then
    the test examples, or the digits behind activation vectors, that activate it most)."""
    dictionary = run.offers.dictionary
    if dictionary is None:
        raise ConfigError(f"{run.path} is a {run.model} run, not a dictionary (an SAE)")
    folder = folder or RunDir(run.path).samples
    acts = latent_activations(run)
    usage = (acts != 0).mean(axis=0)
    top = [int(i) for i in np.argsort(-usage, kind="stable")[:n] if usage[i] > 0]
    if not top:
        raise ConfigError(f"no latent of {run.path} fires on its test examples; train longer or lower the sparsity")
    atoms = np.asarray(dictionary.atoms(run.state.params))
    images = source_images(run, data_dir)
    shape = run.data.image_shape
    pixels = shape is not None and int(np.prod(shape)) == atoms.shape[1]
    written = []
    if pixels:
        assert shape is not None
        path = os.path.join(folder, "atoms.png")
        viz.save_grid(unit_rows(atoms[top]).reshape(-1, *shape), path, columns=min(PER_ROW, len(top)))
        written.append(path)
    if images is None:
        logging.getLogger("jaxae").info("%s's examples are neither images nor activations of images: no "
                                        "top_activating.png", run.path)
        return written
    rows = []
    for i in top:
        best = np.argsort(-acts[:, i], kind="stable")[:PER_ROW]
        row = [_pixels(images[best])]
        if pixels:
            row.insert(0, unit_rows(atoms[i])[None].reshape(1, *images.shape[1:]))
        rows.append(np.concatenate(row))
    path = os.path.join(folder, "top_activating.png")
    viz.save_grid(np.concatenate(rows), path, columns=rows[0].shape[0])
    written.append(path)
    return written
