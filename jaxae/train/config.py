"""The trainer's configuration."""
from __future__ import annotations

from dataclasses import dataclass

from jaxae.data.dataset import take
from jaxae.errors import ConfigError, check_count
from jaxae.estimators import PRECISIONS

MODES = ("auto", "scan", "step", "stream")

# Keys of TrainConfig that may change when a run is resumed.
RESUMABLE_CHANGES = ("epochs", "mode", "progress", "checkpoint_every", "keep", "eval_batch_size", "parallel",
                     "precision", "train_eval", "log", "grad_norm", "checkpoint_steps", "profile")
PARALLEL = ("auto", "none", "mesh", "pmap")


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model's own sizes and optimizer live in its config).

    Attributes:
      epochs: total epochs; resuming a run with a larger value trains on.
      batch_size: examples per optimizer step; an epoch drops the last n_train % batch_size.
      seed: the integer seed of the run's root PRNG key.
      mode: "scan" (one compiled lax.scan per epoch, data on the device), "step" (one compiled step
        per batch, data on the device), "stream" (chunks of chunk_steps batches read on the host by
        a Grain pipeline in the background and trained by one compiled scan each; for data too big
        for the device, see jaxae.train.stream), or "auto" (stream for a shard set on disk, else the
        measured-faster mode for the backend, or stream when the data would take over half of the
        device's memory).
      eval_batch_size: batch size of the test-set evaluation.
      checkpoint_every: save every this many epochs (and always after the last).
      checkpoint_steps: streaming only: also save in the middle of an epoch, at the end of the first
        chunk after every this many steps (0: never), so a long epoch resumes where it stopped.
      shuffle: shuffle the examples every epoch (False: the same order every epoch, e.g. to compare
        two data paths bit for bit).
      chunk_steps: streaming only: batches per compiled call (0: as many as fit in 32 MiB, or 1/16
        of the device's memory).
      keep: how many checkpoints to keep.
      progress: show a tqdm progress bar.
      parallel: "mesh" (jit over a Mesh of all devices, batch sharded, state replicated; the same
        results as one device), "pmap" (jax.pmap with lax.pmean of the gradients, for comparison;
        also the same results), "none" (the first device), or "auto" (mesh when there are several).
      seeds: train this many models with seeds seed, seed + 1, ... at once, vmapped into one compiled
        program; metrics are reported per model and as mean and std.
      lr_scales: comma list of learning-rate multipliers (e.g. "0.5,1,2"): one vmapped model per
        value (for each seed), its updates, and so its whole learning-rate schedule, scaled by it
        (`jaxae train --sweep learning_rate=...` fills this in).
      precision: "float32", or "bfloat16" for mixed precision: the training step's matrix products and
        activations in bfloat16, the parameters, optimizer state, gradient sums and all evaluation
        (likelihoods included) in float32 (jaxae.estimators.with_precision).
      train_eval: also evaluate on as many training examples as there are test examples each epoch
        (metrics "train_eval_*"; with a "free_energy" metric, "free_energy_gap" = test - train, the
        practical guide's overfitting monitor).
      init_examples: how many training examples the model's init sees: 0 one batch, -1 all of them
        (e.g. so that a recommender's initial biases come from every user's ratings).
      log: where else to write the run's scalars and pictures besides metrics.jsonl and images/:
        "tensorboard" (event files in RUN/tensorboard/, with tensorboardX) or "" (nothing else).
      grad_norm: also record the gradient's global norm each step (metric "grad_norm"), which also
        checks the gradient itself for non-finite values; off by default because the extra pass
        over the gradient costs up to 12% of a small model's step on a CPU.
      profile: after the first epoch, trace this many optimizer steps with jax.profiler into
        RUN/profile/ (a Perfetto trace, each step annotated; process 0 writes it). The traced steps run
        on a copy of the state, so the run's results do not change; 0: no tracing and no cost.
    """

    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    mode: str = "auto"
    eval_batch_size: int = 1000
    checkpoint_every: int = 1
    checkpoint_steps: int = 0
    shuffle: bool = True
    chunk_steps: int = 0
    keep: int = 3
    progress: bool = True
    parallel: str = "auto"
    seeds: int = 1
    lr_scales: str = ""
    precision: str = "float32"
    train_eval: bool = False
    init_examples: int = 0
    log: str = ""
    grad_norm: bool = False
    profile: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every", "keep", "seeds"):
            check_count(name, getattr(self, name))
        for name in ("seed", "init_examples"):
            check_count(name, getattr(self, name), minimum=None)
        for name in ("checkpoint_steps", "chunk_steps", "profile"):
            check_count(name, getattr(self, name), minimum=0)
        if self.log.strip() and self.log.strip() != "tensorboard":
            raise ConfigError(f"log must be tensorboard (or empty), got {self.log!r}")
        if self.init_examples < -1:
            raise ConfigError(f"init_examples must be 0 (one batch), -1 (all) or a count, got {self.init_examples}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.parallel not in PARALLEL:
            raise ConfigError(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        try:
            scales = self.scales()
        except ValueError:
            raise ConfigError(f"lr_scales must be a comma list of numbers, got {self.lr_scales!r}") from None
        if any(not c > 0 for c in scales):
            raise ConfigError(f"learning-rate multipliers must be positive, got {self.lr_scales!r}")
        if self.mode in ("scan", "step") and (self.checkpoint_steps or self.chunk_steps):
            raise ConfigError('[[checkpoint_steps]] and [[chunk_steps]] apply to the streaming mode; use [[mode="stream"]] '
                              "(the default for a shard set) or drop them")
        if self.n_models > 1 and self.mode == "stream":
            raise ConfigError('[[seeds]] and [[lr_scales]] train the models together on device-resident data; use '
                              '[[mode="scan"]] or [[mode="step"]]')

    def init_batch(self, images):
        """The training examples the model's init sees (see init_examples)."""
        return images if self.init_examples < 0 else take(images, slice(0, self.init_examples or self.batch_size))

    def scales(self) -> list[float]:
        """The learning-rate multipliers (empty: no sweep)."""
        return [float(x) for x in self.lr_scales.split(",") if x.strip()]

    @property
    def n_models(self) -> int:
        """The number of models trained together (seeds times learning-rate multipliers)."""
        return self.seeds * max(1, len(self.scales()))

    def models(self) -> list[tuple[int, float]]:
        """(seed, learning-rate multiplier) of each model, in the order of the stacked state."""
        return [(self.seed + i, c) for c in (self.scales() or [1.0]) for i in range(self.seeds)]
