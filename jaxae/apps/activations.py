"""`jaxae activations --run R --layer NAME --out DIR`: a layer of a trained model on its data's train
and test examples, written as a shard set (jaxae.data.activations) for `jaxae train sae --data shards:DIR`."""
from __future__ import annotations

import os

from jaxae.apps.evaluate import check_finite_params
from jaxae.data import activations
from jaxae.errors import ConfigError
from jaxae.tasks import Run, load_run
from jaxae.train import steps


def layers_of(run: Run) -> dict:
    """The layers the run's model offers by name (its codec's code as "code")."""
    named = dict(run.offers.layers or {})
    if run.offers.codec is not None and "code" not in named:
        named["code"] = run.offers.codec.encode
    return named


def write_activations(run: Run, layer: str, out: str, batch_size: int = 1024, dtype: str = "float32"):
    """Writes `layer` of the run's model on its dataset's train and test splits as a shard set at `out`."""
    named = layers_of(run)
    if layer not in named:
        offered = ", ".join(sorted(named)) or "none"
        raise ConfigError(f"the {run.model} model offers no layer {layer!r} (layers: {offered}); pick one of those")
    check_finite_params(run)
    fn, task, key = named[layer], run.task, run.state.key

    def f(params, raw):
        return fn(params, steps.eval_inputs(task, key, raw))

    origin = {"run": os.path.abspath(run.path), "model": run.model, "layer": layer, "data_dir": run.data_dir}
    return activations.write(out, f, run.state.params, run.data, batch_size=batch_size, dtype=dtype, origin=origin)


def activations_command(args) -> int:
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    run = load_run(args.run, args.data_dir, args.index)
    written = write_activations(run, args.layer, args.out, args.batch_size, args.dtype)
    counts = {split: entry["examples"] for split, entry in written.manifest["splits"].items()}
    width = written.manifest["leaves"]["image"]["shape"]
    print(f"wrote {args.layer} of {args.run} ({counts['train']} train, {counts['test']} test vectors of width "
          f"{width[0]}) to {written.path}; train an SAE on them with: jaxae train sae --data shards:{written.path}")
    return 0
