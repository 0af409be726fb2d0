"""Throughput: jaxae (scan, step) vs a hand-written JAX loop and the chapter's PyTorch loops (and
scikit-learn's RBM), same run.

    python -m benchmarks.models --model ae|conv-ae|vae|vae-binarized|rbm-cd1|rbm-cd10|dbm [--epochs 3] [--bf16]
        [--torch-compile [--torch-compile-mode reduce-overhead]] [--transposed auto,dilated,matmul,subpixel]

Every jaxae row says whether its mode is the one `--mode auto` picks for the model on this backend
("default": true); each gets a ratio to the hand-written floor (benchmarks/floor.py) and to PyTorch.
The default mode and the floor are timed with their epochs interleaved (one of each in turn, as
benchmarks.ab does), so that a drift of the machine's speed moves both alike ("timing": "interleaved");
every other row is timed in a block of its own.
"""
from __future__ import annotations

import argparse
import statistics

import jax

from benchmarks import floor
from benchmarks import torch_reference as ref
from benchmarks.common import compiled_epoch, emit, flops_per_example, interleaved, jaxae_throughput, load_data
from jaxae.nn.conv import TRANSPOSED, transposed_method
from jaxae.tasks import ae, conv_ae, dbm, rbm, rbm_binary, vae
from jaxae.train.loop import choose_mode

# name -> (jaxae task factory, reference (images, batch, epochs) -> dict or None, note); RBMs at the
# issue's batch 100 are run with --batch-size 100.
MODELS = {
    "ae": (lambda: ae.task(), ref.autoencoder_throughput, "chapter MLP AE, MSE on [-1,1]"),
    "conv-ae": (lambda: conv_ae.task(), ref.conv_autoencoder_throughput, "chapter conv AE"),
    # The chapter's VAE loop trains BCE on grey pixels; the same work in jaxae is binarize=none.
    "vae": (lambda: vae.task(vae.VAEConfig(binarize="none", allow_nonbinary=True)), ref.vae_throughput,
            "chapter VAE 784-400-20, BCE on grey pixels (as the chapter's loop)"),
    # jaxae's default: a fresh Bernoulli sample of every image each step (no PyTorch counterpart).
    "vae-binarized": (lambda: vae.task(), None, "chapter VAE with dynamic binarization (jaxae default)"),
    "rbm-cd1": (lambda: rbm.task(rbm.RBMConfig(n_hidden=500, k=1)), ref.rbm_throughput, "784-500 RBM, CD-1"),
    "rbm-cd10": (lambda: rbm.task(rbm.RBMConfig(n_hidden=500, k=10)),
                 lambda images, b, e: ref.rbm_throughput(images, b, e, k=10), "784-500 RBM, CD-10"),
    "dbm": (lambda: dbm.task(dbm.DBMConfig()), None,
            "784-500-1000 DBM joint training: 10 mean-field updates, 100 chains x 5 sweeps (no PyTorch counterpart)"),
    # the chapter's MovieLens recommender: one example per user (943 x 1,682 ML-100K u1 matrix)
    "cf-rbm-chapter": (lambda: rbm_binary.task(), ref.chapter_recommender_throughput,
                       "chapter's like/dislike RBM on ML-100K u1, 200 hidden, CD-10"),
}
EXTRA = {"rbm-cd1": ("sklearn-pcd1", ref.sklearn_rbm_throughput)}
BATCH = {"rbm-cd1": 100, "rbm-cd10": 100, "cf-rbm-chapter": 100, "dbm": 100}  # the issues' RBM batch; the chapter's AEs use 128
DATA = {"cf-rbm-chapter": "ml-100k/u1"}  # default: MNIST (see load_data)
COMPILABLE = ("ae", "conv-ae", "vae")  # references that take compile=True
MIN_EPOCHS = {"cf-rbm-chapter": 50}  # an epoch is 9 steps: time more of them


def paired_with_floor(make_task, model: str, images, batch_size: int, mode: str, rounds: int) -> tuple[dict, dict]:
    """jaxae in `mode` and the hand-written floor of `model`, after one warm-up epoch each, `rounds` rounds of
    one epoch of each in turn: (jaxae's result, the floor's), as jaxae_throughput and floor.throughput give
    them, with "timing": "interleaved", samples/s of the median epoch, every epoch's seconds, and in jaxae's
    result "vs_floor": the median over rounds of jaxae / floor within a round (a machine whose speed drifts
    between rounds, or one slow epoch, moves it less than a ratio of two means)."""
    run_epoch, state, compile_s = compiled_epoch(make_task(), images, batch_size, mode)
    epoch_fn, carry = floor.FLOORS[model](images, batch_size)
    losses = []

    def floor_epoch(carry, epoch):
        carry, loss = epoch_fn(carry, epoch)
        losses.append(loss)
        return carry, loss

    seconds = interleaved({"jaxae": (run_epoch, state), "floor": (floor_epoch, carry)}, rounds)
    samples = (len(images) // batch_size) * batch_size
    results = {}
    for name, s in seconds.items():
        epoch_s = statistics.median(s)
        results[name] = {"samples_per_s": samples / epoch_s, "epoch_s": epoch_s, "epochs_s": s,
                         "timing": "interleaved"}
    per_round = [f / j for f, j in zip(seconds["floor"], seconds["jaxae"])]
    results["floor"].update(first_loss=float(losses[0]), last_loss=float(losses[-1]))
    return {**results["jaxae"], "compile_s": compile_s, "vs_floor": statistics.median(per_round),
            "vs_floor_rounds": per_round}, results["floor"]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ae", choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the default mode and the floor (one epoch of each per round)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 (RBMs: 100)")
    parser.add_argument("--modes", default="scan,step", help="jaxae modes to time")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    parser.add_argument("--torch-compile", action="store_true",
                        help="also time the PyTorch reference under torch.compile (ae, conv-ae, vae; compile "
                        "time is in the warm-up epoch, not counted)")
    parser.add_argument("--torch-compile-mode", default="default", choices=("default", "reduce-overhead", "max-autotune"),
                        help="torch.compile's mode (reduce-overhead replays CUDA graphs on a GPU)")
    parser.add_argument("--transposed", default="auto",
                        help="conv-ae: comma list of transposed-convolution formulations to time jaxae with "
                        f"({', '.join(TRANSPOSED)}; see jaxae.nn.conv.conv_transpose)")
    parser.add_argument("--bf16", action="store_true",
                        help="also time the first mode with --precision bfloat16 (mixed precision)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    make_task, torch_fn, note = MODELS[args.model]
    args.batch_size = args.batch_size or BATCH.get(args.model, 128)
    data = load_data(DATA.get(args.model))
    images = data.train_images
    args.epochs = max(args.epochs, MIN_EPOCHS.get(args.model, 0))
    # the same work in every implementation of a row: jaxae's step counted (benchmarks.common.emit)
    common = {"model": args.model, "data": data.name, "n": len(images), "batch": args.batch_size,
              "flops_per_example": flops_per_example(make_task(), images, args.batch_size)}
    formulations = args.transposed.split(",")
    for method in formulations:
        transposed_method(method)  # refuses an unknown one before anything runs
    if formulations != ["auto"] and args.model != "conv-ae":
        parser.error("--transposed is for --model conv-ae")
    if "auto" in formulations:  # auto's row (it names its formulation under "transposed") is not timed twice
        formulations = ["auto"] + [m for m in formulations if m != "auto" and m != transposed_method("auto")]
    default_mode = choose_mode("auto", images, make_task().modes)
    rows = []
    floor_result = None
    for method in formulations:
        tag = "" if method == "auto" else f"[{method}]"
        factory = make_task if method == "auto" else (lambda m=method: conv_ae.task(conv_ae.ConvAEConfig(transposed=m)))
        how = {"transposed": transposed_method(method)} if args.model == "conv-ae" else {}
        for mode in args.modes.split(","):
            default = mode == default_mode and not tag
            if default and args.model in floor.FLOORS:
                result, floor_result = paired_with_floor(factory, args.model, images, args.batch_size, mode,
                                                          max(args.rounds, MIN_EPOCHS.get(args.model, 0)))
            else:
                result = jaxae_throughput(factory(), images, args.batch_size, mode, args.epochs)
            rows.append(emit({**common, "impl": f"jaxae-{mode}{tag}", "default": default, **how, **result,
                              "note": note}))
        if args.bf16 and method == formulations[0]:
            mode = args.modes.split(",")[0]
            result = jaxae_throughput(factory(), images, args.batch_size, mode, args.epochs, precision="bfloat16")
            rows.append(emit({**common, "impl": f"jaxae-{mode}-bf16{tag}", "default": False, **how, **result,
                              "note": note}))
    jaxae_rows = list(rows)

    def against(row: dict, key: str) -> None:
        """Prints jaxae's ratio to `row` for every jaxae row and keeps it in the row under `key`."""
        for r in jaxae_rows:  # the paired default row came with its own (median of per-round ratios)
            r.setdefault(key, r["samples_per_s"] / row["samples_per_s"])
            emit({**common, "ratio": f"{r['impl']}/{row['impl']}", "value": r[key]})
        rows.append(row)

    if args.model in floor.FLOORS:  # the hand-written JAX loop of the same work, same run
        if floor_result is None:  # the default mode was not timed (--modes): the floor in a block of its own
            floor_result = floor.throughput(args.model, images, args.batch_size, args.epochs)
        against(emit({**common, "impl": "jax-floor", **floor_result}), "vs_floor")
    if torch_fn and not args.no_torch:
        against(emit({**common, "impl": "torch-eager", **torch_fn(images, args.batch_size, args.epochs)}),
                "vs_torch_eager")
        if args.torch_compile and args.model in COMPILABLE:
            mode = args.torch_compile_mode
            against(emit({**common, "impl": "torch-compile" + ("" if mode == "default" else f"-{mode}"),
                          **torch_fn(images, args.batch_size, args.epochs, compile=True if mode == "default" else mode)}),
                    "vs_torch_compile")
    if args.model in EXTRA and not args.no_torch and jax.default_backend() == "cpu":  # CPU libraries: CPU tables
        name, fn = EXTRA[args.model]
        against(emit({**common, "impl": name, **fn(images, args.batch_size, args.epochs)}), "vs_" + name)
    return rows


if __name__ == "__main__":
    main()
