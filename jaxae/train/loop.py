"""`fit`: the one trainer for every model. Reads top to bottom: set up, resume, compile, loop."""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxae import viz
from jaxae.data.dataset import Dataset, images_of, n_examples, nbytes, take
from jaxae.errors import ConfigError, Preempted, TrainingDiverged
from jaxae.estimators import with_precision
from jaxae.optim import ScaleState, scale_by_model
from jaxae.train import cost, parallel, programs, steps, stream
from jaxae.train import summaries as summaries_lib
from jaxae.train.checkpoint import Checkpointer, to_host
from jaxae.train.config import TrainConfig
from jaxae.train.contracts import check_task
from jaxae.train.distributed import Preemption, wait_for_all
from jaxae.train.rundir import RunDir
from jaxae.train.state import Task, TrainState, build_state

log = logging.getLogger("jaxae")

# Measured with `python -m benchmarks` (see benchmarks/README.md): on the 2-core CPU the
# one scan per epoch beat the per-step mode (85k vs 67k samples/s for the AE on full MNIST).
DEFAULT_MODE = {"cpu": "scan", "gpu": "scan", "tpu": "scan"}
N_PICTURE = 16


class FitResult(NamedTuple):
    """The final state and one metrics dict per epoch trained in this call."""

    state: TrainState
    history: list


def choose_mode(mode: str, images, preferred: dict | None = None, on_disk: bool = False) -> str:
    """Resolves "auto": "stream" for data on disk (a shard set) or too big for the device, else the
    model's measured-faster mode for the backend (`preferred`, from Task.modes), else the backend's
    DEFAULT_MODE."""
    if mode != "auto":
        return mode
    if on_disk:
        return "stream"
    device = jax.local_devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    limit = (stats or {}).get("bytes_limit")
    if limit and nbytes(images) > limit // 2:
        return "stream"
    return (preferred or {}).get(device.platform) or DEFAULT_MODE.get(device.platform, "scan")


def fit(
    task: Task,
    data: Dataset,
    config: TrainConfig = TrainConfig(),
    workdir: str | None = None,
    *,
    resume: bool = False,
    run_config: dict | None = None,
    config_defaults: dict | None = None,
) -> FitResult:
    """Trains `task` on `data` and evaluates on the test split after every epoch.

    Args:
      task: the model's Task (see jaxae.train.state).
      data: a Dataset; its examples (an array or a pytree of per-example arrays) stay uint8 (or float)
        and are preprocessed inside the step.
      config: the TrainConfig.
      workdir: run folder for config.json, metrics.jsonl, checkpoints/, images/ (None: keep nothing).
      resume: continue from the newest intact checkpoint in workdir.
      run_config: extra configuration recorded in config.json and checked on resume; by default
        config.json holds the task's spec (model name and config), the data's name and the folder it
        was found in, and the TrainConfig, which is all `load_run` needs to reopen the run.
      config_defaults: defaults of run_config's options (e.g. {"model": ...}, and "train" for a model's
        own TrainConfig defaults), so a run recorded before an option existed resumes while the option
        keeps its default.

    With config.seeds (and config.lr_scales) giving N > 1 models, they are vmapped into one program:
    the state's leaves get a leading axis of N (in the order of config.models()), and each epoch's
    record holds the mean over models, ``*_std`` and ``*_per_model``.
    With several devices (config.parallel), each batch is split over them, or, with several models,
    the models are (jaxae.train.parallel).

    Returns:
      FitResult(state, history).

    Raises:
      TrainingDiverged: a loss or gradient became NaN/inf (checkpoints are kept).
      CheckpointError, ConfigError: see RunDir.prepare.
    """
    if task.adapt_data:
        data = task.adapt_data(data)
    if task.validate:
        task.validate(data)
    n_train = n_examples(data.train_images)
    if config.batch_size > n_train:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the {n_train} training examples")
    check_task(task, take(data.train_images, slice(0, config.batch_size)),
               take(data.test_images, slice(0, config.eval_batch_size)))
    mode = choose_mode(config.mode, data.train_images, task.modes, data.on_disk)
    n_models = config.n_models
    if mode == "stream" and n_models > 1:
        raise ConfigError('[[seeds]] and [[lr_scales]] train the models together on device-resident data, but a shard '
                          'set streams; train one model at a time, or load the data into memory with [[mode="scan"]]')
    if mode != "stream" and (config.checkpoint_steps or config.chunk_steps):
        raise ConfigError('[[checkpoint_steps]] and [[chunk_steps]] apply to the streaming mode; use [[mode="stream"]]')
    task = configured(task, config)
    dp = _data_parallel(config)
    steps_per_epoch = n_train // config.batch_size
    state = init_states(task, config, config.init_batch(data.train_images))
    if dp:  # before the run folder is written, so that a refused layout leaves nothing behind
        dp.check_state(state)
    if config.profile and not workdir:
        raise ConfigError("[[profile]] writes its trace into the run folder's profile/; pass a [[workdir]]")
    run = RunDir(workdir) if workdir else None
    primary = jax.process_index() == 0  # with several processes, process 0 alone writes the run folder
    if run:
        train_defaults = {**dataclasses.asdict(TrainConfig()), **(config_defaults or {}).get("train", {})}
        defaults = json.loads(json.dumps({**(config_defaults or {}), "train": train_defaults}))
        recorded = {**(task.spec or {}), "data": data.name, "data_dir": data.source, **(run_config or {})}
        run.prepare({**recorded, "task": task.name, "train": dataclasses.asdict(config)}, resume, defaults,
                    write=primary)
        wait_for_all("jaxae: run folder prepared")
    ckpt = run.checkpointer(config.keep) if run else None

    start, resumed = 0, None
    partial = run.partial_checkpointer(create=config.checkpoint_steps > 0) if run and mode == "stream" else None
    if resume and run is not None and ckpt is not None:
        restored = ckpt.restore_latest(state)
        if restored:
            start, state = restored
            log.info("resumed %s from the checkpoint of epoch %d", run.path, start)
        resumed = stream.restore_partial(partial, state, start) if partial is not None else None
        if resumed is not None:
            state = resumed[0]
            log.info("resumed %s in epoch %d at step %d of it", run.path, start + 1, resumed[1]["steps_done"])
        if primary:
            run.truncate_metrics(start)
            _restore_record(run, ckpt, start)

    put = dp.replicate if dp else jax.device_put
    state = dp.put_state(state) if dp else jax.device_put(state)
    test_images = put(data.test_images)
    n_test = n_examples(data.test_images)
    train_subset = put(take(data.train_images, slice(0, n_test))) if config.train_eval else None
    feed = None
    if mode == "stream":  # a Grain pipeline reads the examples on the host (jaxae.train.stream)
        feed = stream.Stream(task, config, state, data.train_images, dp)
        steps_per_epoch, compile_s = feed.plan.steps, feed.compile_s
        stream.start_feed(feed, ckpt, partial, start, resumed)
    else:
        train_images = put(jax.tree.map(np.asarray, data.train_images))  # (a shard set is read whole here)
        run_epoch, compile_s = compile_epoch(task, config, mode, state, train_images, dp)
    # FLOPs of one model's step per example (products and convolutions): FLOP/s in every epoch's record
    flops = cost.step_flops(task, state, take(data.train_images, slice(0, config.batch_size)), n_models)
    flops_per_example = flops / config.batch_size if flops else None
    if run is not None and primary and flops_per_example:
        run.record_cost({"flops_per_example": flops_per_example, "step_flops": flops, "batch_size": config.batch_size,
                         "counts": "matrix products and convolutions, 2 per multiply-add (jaxae.train.cost.step_flops)",
                         "jax": jax.__version__, "backend": jax.default_backend()})
    evaluate_one = functools.partial(steps.evaluate, task, config.eval_batch_size)
    evaluate = programs.jit(jax.vmap(evaluate_one, in_axes=(0, None)) if n_models > 1 else evaluate_one,
                            _devices(dp, state))
    picture = _picture_fn(task, data) if (run is not None and task.reconstruct) else None
    names = [f"seed{s}_lr{c:g}" for s, c in config.models()] if n_models > 1 else []
    summaries = summaries_lib.for_run(run, config.log, names) if run is not None and primary else None
    if summaries is not None and start > 0:  # the event files follow metrics.jsonl, truncated to `start`
        summaries.rebuild()
    first = (lambda params: jax.tree.map(lambda x: x[0], params)) if n_models > 1 else (lambda params: params)

    history: list[dict] = []
    bar = tqdm(range(start + 1, config.epochs + 1), desc=task.name, disable=not (config.progress and primary),
               initial=start, total=config.epochs)
    preempted, epoch = False, start
    with Preemption() as preemption:  # SIGTERM's handler is restored however the loop ends
        for epoch in bar:
            t0 = time.perf_counter()
            steps_run = steps_per_epoch
            if feed is not None:
                state, metrics, data_wait_s, steps_run = stream.streamed_epoch(
                    feed, state, epoch, resumed, partial, config, primary)
                resumed = None
            else:
                state, metrics = run_epoch(state, train_images, epoch - 1)
                metrics = to_host(metrics)
            epoch_s = time.perf_counter() - t0
            _check_finite(metrics, epoch, steps_per_epoch, ckpt)
            record: dict[str, Any] = {"epoch": epoch, "step": epoch * steps_per_epoch, "mode": mode}
            if dp:
                record.update(devices=dp.size, parallel=dp.name)
            if n_models > 1:
                record["models"] = n_models
            train_means = {k: np.mean(v, axis=-1) for k, v in metrics.items()}
            record.update(_per_model("train", train_means, n_models))
            record.update(_per_model("test", summarized(task, evaluate(state, test_images), n_models), n_models))
            if train_subset is not None:
                train_eval = summarized(task, evaluate(state, train_subset), n_models)
                record.update(_per_model("train_eval", train_eval, n_models))
                if "test_free_energy" in record:
                    record["free_energy_gap"] = record["test_free_energy"] - record["train_eval_free_energy"]
            if task.learning_rate is not None:
                record.update(_per_model("", {"learning_rate": _learning_rate(task, state, config)}, n_models))
            # samples/s counts every model's examples: N vmapped models do N times the work of one
            record.update(epoch_s=epoch_s, samples_per_s=n_models * steps_run * config.batch_size / epoch_s)
            if flops_per_example:  # achieved FLOP/s of the training steps (evaluation not counted)
                record["flop_per_s"] = flops_per_example * record["samples_per_s"]
            if feed is not None:  # how long the loop waited for the data pipeline: input- or compute-bound
                record.update(data_wait_s=data_wait_s, chunk_steps=feed.plan.chunk)
            if epoch == start + 1:
                record["compile_s"] = compile_s
            history.append(record)
            bar.set_postfix(loss=f"{record['train_loss']:.4f}" if "train_loss" in record else None)
            preempted = preemption.agreed()  # every process stops after the same epoch
            if run is not None and ckpt is not None:
                if epoch % config.checkpoint_every == 0 or epoch == config.epochs or preempted:
                    # all processes (Orbax coordinates them); streaming: with the Grain iterator's state
                    ckpt.save(epoch, state, record, data_iterator=feed.iterator if feed is not None else None)
                if primary:  # recorded once the checkpoint is committed
                    run.append_metrics(record)
                    if picture:  # of the first model when several are trained
                        picture(first(state.params), run.image(epoch))
                    if summaries is not None:
                        summaries.epoch(record, run.image(epoch) if picture else None)
            if config.profile and epoch == start + 1 and run is not None:  # after a warm-up epoch
                _profile(task, config, state, data, put, dp, run, primary)
            # the others wait for process 0's writing here, not in the next epoch's first collective
            # (whose timeout is the cluster's, 30 s by default)
            wait_for_all("jaxae: epoch written")
            if preempted:
                break
    bar.close()
    if summaries is not None:
        summaries.close()
    if run and primary:
        viz.save_curves(run.read_metrics(), run.curves)
    # every process leaves together: one that exits first waits in JAX's shutdown barrier only 10 s,
    # then aborts, and process 0's watchdog takes it for a failed process
    wait_for_all("jaxae: run written")
    if preempted:
        where = f"; the checkpoint of epoch {epoch} is in {run.checkpoints}" if run else ""
        raise Preempted(f"stopped on SIGTERM after epoch {epoch} of {config.epochs}{where}; resume with [[resume=True]]")
    return FitResult(state, history)


def _restore_record(run: RunDir, ckpt: Checkpointer, start: int) -> None:
    """The metrics line of the restored epoch, from the checkpoint, when metrics.jsonl lost it (the run
    stopped after the checkpoint was committed and before the line was written)."""
    record = ckpt.restored_meta.get("record")
    records = run.read_metrics()
    if start and isinstance(record, dict) and record.get("epoch") == start and (
            not records or records[-1].get("epoch", 0) < start):
        run.append_metrics(record)


def configured(task: Task, config: TrainConfig) -> Task:
    """The task as `config` trains it: a per-model learning-rate scale for --sweep, mixed precision."""
    if config.scales():
        task = task._replace(optimizer=optax.chain(task.optimizer, scale_by_model()))
    if config.precision != "float32":
        task = task._replace(estimator=with_precision(task.estimator, config.precision))
    return task


def summarized(task: Task, means: dict, n_models: int = 1) -> dict:
    """The evaluation's mean metrics plus the task's summary metrics (host floats; with n_models > 1,
    host arrays of one value per model)."""
    means = to_host(means)
    if n_models > 1:
        rows = [summarized(task, {k: v[i] for k, v in means.items()}) for i in range(n_models)]
        return {k: np.array([row[k] for row in rows]) for k in rows[0]}
    means = {k: float(v) for k, v in means.items()}
    return {**means, **task.summarize(means)} if task.summarize else means


def _per_model(prefix: str, values: dict, n_models: int) -> dict:
    """{prefix_name: mean} and, for several models, prefix_name_std and prefix_name_per_model (no
    prefix: just name)."""
    out: dict[str, Any] = {}
    for name, v in values.items():
        v = np.asarray(v, np.float64)
        key = f"{prefix}_{name}" if prefix else name
        out[key] = float(np.mean(v))
        if n_models > 1:
            out[f"{key}_std"] = float(np.std(v))
            out[f"{key}_per_model"] = [float(x) for x in v]
    return out


def _learning_rate(task: Task, state: TrainState, config: TrainConfig) -> np.ndarray:
    """The learning rate at the state's step (each model's, times its --sweep multiplier)."""
    rate = task.learning_rate
    steps_done = np.asarray(to_host(state.step)).reshape(-1)[0]
    value = float(rate(steps_done)) if callable(rate) else float(rate)  # type: ignore[arg-type]
    return np.asarray([value * c for _, c in config.models()])


def init_states(task: Task, config: TrainConfig, example_raw) -> TrainState:
    """init_state for config.seed, or the models of config.models() stacked on a leading axis (each
    equals the single run of its seed and learning rate)."""
    if config.n_models == 1:  # init_state, compiled through programs: a later fit of the same model reuses it
        build = (programs.jit(functools.partial(build_state, task), programs.devices_of(example_raw))
                 if task.compile_init else functools.partial(build_state, task))
        return build(config.seed, example_raw)
    example = jax.tree.map(jax.numpy.asarray, example_raw)
    seeds, scales = (jax.numpy.asarray(x) for x in zip(*config.models()))
    state = jax.jit(jax.vmap(lambda s: build_state(task, s, example)))(seeds)
    if config.scales():  # the last transformation of the chain is scale_by_model
        *rest, _ = state.opt_state
        state = state._replace(opt_state=(*rest, ScaleState(scales.astype(jax.numpy.float32))))
    return state


def _data_parallel(config: TrainConfig):
    many = config.n_models > 1
    dp = parallel.choose(config.parallel, models=many)
    if dp and many:  # vmapped models: each device trains n_models / devices of them
        dp.check_models(config.n_models)
        log.info("%d models over %d devices (%s)", config.n_models, dp.size, dp.devices[0].platform)
    elif dp:
        dp.check_batch(config.batch_size)
        log.info("data parallel (%s) over %d devices (%s)", dp.name, dp.size, dp.devices[0].platform)
    return dp


def compile_epoch(task: Task, config: TrainConfig, mode: str, state: TrainState, images, dp=None):
    """Returns run_epoch(state, images, epoch_index) -> (state, per-step metrics) and the compile time.

    With config.n_models > 1 the state is a stack of models and every function is vmapped over it (the
    images are shared); with a DataParallel `dp`, batches are split over its devices."""
    batch = config.batch_size
    n = n_examples(images)
    many = config.n_models > 1
    kw = _step_options(config, dp)
    compile_fn: Callable[..., Any] = dp.jit if dp else (lambda fn, n_args: jax.jit(fn, donate_argnums=0))
    t0 = time.perf_counter()
    if mode == "scan":
        one_epoch = functools.partial(steps.train_epoch, task, batch, **kw, shuffled=config.shuffle)
        epoch_fn = compile_fn(jax.vmap(one_epoch, in_axes=(0, None)) if many else one_epoch, 1)
        compiled = _compile(epoch_fn.lower(state, images), dp, state)
        return (lambda state, images, epoch: compiled(state, images)), time.perf_counter() - t0

    if mode == "stream":
        feed = stream.Stream(task, dataclasses.replace(config, epochs=1 << 20), state, images, dp)

        def run_streamed(state, images, epoch):  # (benchmarks call epochs in order)
            if feed.iterator is None or feed.iterator.get_state()["next_index"] != feed.position(epoch, 0):
                feed.start(feed.position(epoch, 0))
            state, outs, _ = feed.run_epoch(state, epoch)
            return state, stream.concat(outs)

        return run_streamed, time.perf_counter() - t0

    def one_shuffle(key, epoch):
        return steps.shuffle(key, epoch, n) if config.shuffle else jax.numpy.arange(n, dtype=jax.numpy.int32)

    shuffle: Any = jax.jit(jax.vmap(one_shuffle, in_axes=(0, None)) if many else one_shuffle)
    stack = lambda out: jax.tree.map(lambda *xs: np.stack(xs, axis=-1), *to_host(out))  # noqa: E731
    step = step_program(task, config, dp)
    perm0 = shuffle(state.key, 0)
    compiled = _compile(step.lower(state, images, perm0, 0), dp, state)

    def run_epoch(state, images, epoch):
        perm = shuffle(state.key, epoch)
        out = []
        for i in range(n // batch):
            state, metrics = compiled(state, images, perm, i)
            out.append(metrics)
        return state, stack(out)

    return run_epoch, time.perf_counter() - t0


def _devices(dp, state) -> tuple[int, ...]:
    """The ids of the devices the run's programs execute on."""
    return tuple(d.id for d in dp.devices) if dp else programs.devices_of(state)


def _compile(lowered, dp, state):
    """The lowering's executable, reused from an earlier fit when the program is the same (jaxae.train.programs)."""
    return dp.compile(lowered) if dp else programs.compile(lowered, _devices(dp, state))


def _step_options(config: TrainConfig, dp) -> dict[str, Any]:
    """train_step's keyword options: the data-parallel constrain/reduce (when the batch is split over
    devices) and grad_norm."""
    split = dp is not None and not dp.models
    return {"constrain": dp.constrain if split else None, "reduce": dp.reduce if split else None,
            "grad_norm": config.grad_norm}


def step_program(task: Task, config: TrainConfig, dp=None):
    """The per-step mode's program, jitted (state donated): `step(state, images, perm, i) -> (state,
    metrics)` trains on batch i of the permutation `perm` of device-resident `images` (vmapped over the
    models of config.seeds / lr_scales, each with its own perm; with a DataParallel `dp`, over its devices)."""
    step_fn: Any = functools.partial(steps.train_step_at, task, config.batch_size, **_step_options(config, dp))
    if config.n_models > 1:
        step_fn = jax.vmap(step_fn, in_axes=(0, None, 0, None))
    return dp.jit(step_fn, 3) if dp else jax.jit(step_fn, donate_argnums=0)


def _profile(task: Task, config: TrainConfig, state: TrainState, data: Dataset, put, dp, run: RunDir,
             primary: bool) -> None:
    """Traces config.profile steps of the per-step program on the first batch, on a copy of the state
    (jaxae.train.cost.trace_steps), into RUN/profile/; every process runs them, process 0 writes."""
    batch = config.batch_size
    images = put(take(data.train_images, slice(0, batch)))
    perm = jax.numpy.arange(batch, dtype=jax.numpy.int32)
    if config.n_models > 1:
        perm = jax.numpy.broadcast_to(perm, (config.n_models, batch))
    path = cost.trace_steps(step_program(task, config, dp), state, (images, perm, 0), config.profile,
                            run.profile, write=primary)
    if primary:
        log.info("traced %d steps into %s; open it at https://ui.perfetto.dev (Open trace file)", config.profile,
                 path)


def _check_finite(metrics: dict, epoch: int, steps_per_epoch: int, ckpt: Checkpointer | None) -> None:
    # per step: every metric of every model (--seeds) finite; checked here on the per-step metrics the
    # host receives anyway rather than as one more reduction inside every compiled step
    finite: Any = None
    for value in jax.tree.leaves(metrics):
        value = np.asarray(value)
        ok = np.isfinite(value.reshape(-1, value.shape[-1])).all(axis=0)
        finite = ok if finite is None else finite & ok
    if finite is None or finite.all():
        return
    first = int(np.argmin(finite))
    saved = ckpt.epochs() if ckpt is not None else []
    last = (f"the last good checkpoint is epoch {saved[-1]} in {ckpt.directory}" if ckpt is not None and saved
            else "no checkpoint was saved before it")
    raise TrainingDiverged(
        f"training diverged: loss or gradient became NaN/inf at epoch {epoch}, step {first + 1} of "
        f"{steps_per_epoch} (global step {(epoch - 1) * steps_per_epoch + first + 1}); {last}. "
        "Lower the learning rate or check the data"
    )


def _picture_fn(task: Task, data: Dataset) -> Callable | None:
    """Writes originals above reconstructions for the first N_PICTURE test images (None for data that
    are not images, or a task without reconstructions)."""
    reconstruct_fn = task.reconstruct
    if data.image_shape is None or reconstruct_fn is None:
        return None
    raw = jax.device_put(take(data.test_images, slice(0, N_PICTURE)))
    key = jax.random.PRNGKey(0)
    reconstruct = programs.jit(lambda params: reconstruct_fn(params, task.preprocess(key, raw)),
                               programs.devices_of(raw))
    images = images_of(raw)
    originals = np.asarray(jax.device_get(images), np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)

    def picture(params, path):
        viz.save_reconstructions(originals, np.asarray(reconstruct(params)), path)

    return picture
