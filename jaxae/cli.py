"""The `jaxae` command. Configs are frozen dataclasses; every field is a command-line option."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from jaxae.errors import JaxaeError

TRAIN_HELP = """examples:
  jaxae train ae --data mnist-mini --epochs 10 --workdir runs/ae     (offline, bundled digits)
  jaxae train ae --data mnist --epochs 10 --workdir runs/ae-mnist   (finds or downloads MNIST)
  jaxae train ae --workdir runs/ae --epochs 20 --resume             (continue a run)"""


def _parse_value(kind, text: str):
    if kind is bool:
        return text
    if kind in (int, float, str):
        return kind(text)
    return tuple(int(x) for x in text.split(",") if x.strip())  # Sequence[int]


def _field_docs(cls) -> dict:
    """Field descriptions from the 'Attributes:' section of a config class's docstring."""
    docs, current = {}, None
    lines = (cls.__doc__ or "").split("Attributes:", 1)[-1].splitlines()
    for line in lines:
        head, _, rest = line.strip().partition(": ")
        if line.startswith(" " * 6) and head.isidentifier() and rest:
            current, docs[head] = head, rest
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def _add_dataclass_options(parser, cls, group_title: str) -> None:
    group = parser.add_argument_group(group_title)
    docs = _field_docs(cls)
    for field in dataclasses.fields(cls):
        default = field.default
        flag = "--" + field.name.replace("_", "-")
        doc = docs.get(field.name, "").replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{doc} (default: {default})")
            continue
        kind = type(default) if isinstance(default, (int, float, str)) else tuple
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        metavar = "N,N,..." if kind is tuple else kind.__name__.upper()
        group.add_argument(flag, dest=field.name, default=None, metavar=metavar,
                           type=lambda text, k=kind, f=flag: _typed(k, text, f), help=f"{doc} (default: {shown})")


def _typed(kind, text, flag):
    try:
        return _parse_value(kind, text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{flag} expects {getattr(kind, '__name__', 'a comma list')}, got {text!r}") from None


def _build(cls, args):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}
    return cls(**values)


def make_parser() -> argparse.ArgumentParser:
    from jaxae.data import NAMES
    from jaxae.models import MODELS
    from jaxae.train import TrainConfig

    parser = argparse.ArgumentParser(prog="jaxae", description="Autoencoders and Boltzmann machines on JAX.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model", description="Train a model.",
                                epilog=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name, (config_cls, _) in MODELS.items():
        sub = models.add_parser(name, help=(config_cls.__doc__ or "").strip().splitlines()[0],
                                epilog=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--data", default="mnist-mini", help=f"dataset: {', '.join(NAMES)} (default: mnist-mini)")
        sub.add_argument("--data-dir", default=None, help="folder searched first for the data files")
        sub.add_argument("--no-download", action="store_true", help="never try to download missing data")
        sub.add_argument("--tfds-download", action="store_true", help="let tfds download and prepare tfds:NAME")
        sub.add_argument("--workdir", default=None, help="run folder (default: runs/MODEL-DATA)")
        sub.add_argument("--resume", action="store_true", help="continue from the newest intact checkpoint")
        sub.add_argument("--sweep", default=None, metavar="learning_rate=V,V,...",
                         help="train one vmapped model per learning rate (times --seeds) in one program")
        _add_dataclass_options(sub, TrainConfig, "training")
        _add_dataclass_options(sub, config_cls, f"model ({name})")

    ev = commands.add_parser("eval", help="evaluate a trained run (test metrics, IS-NLL for VAEs)",
                             description="Test metrics of a run's newest checkpoint and, for models with a "
                             "likelihood, the importance-sampled negative log-likelihood in nats.")
    ev.add_argument("--run", required=True, help="the run folder (--workdir of jaxae train)")
    ev.add_argument("--index", type=int, default=None, help="a run trained with --seeds or --sweep: which of its models (0-based)")
    ev.add_argument("--k", type=int, default=5000, help="importance samples per test image (default: 5000)")
    ev.add_argument("--chunk", type=int, default=500, help="samples drawn at once (memory; default: 500)")
    ev.add_argument("--batch-size", type=int, default=100, help="test images at once (default: 100)")
    ev.add_argument("--limit", type=int, default=None, help="evaluate only the first N test images")
    ev.add_argument("--data-dir", default=None, help="folder searched first for the data files")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument("--ais", action="store_true", help="RBMs: AIS estimate of log Z and the test log-likelihood")
    ev.add_argument("--ais-chains", type=int, default=100, help="AIS chains (default: 100)")
    ev.add_argument("--ais-temperatures", type=int, default=14_500, help="AIS temperatures (default: 14500)")

    sa = commands.add_parser("sample", help="pictures from a trained run: prior samples, interpolation, "
                             "latent map, denoising; `jaxae sample dbn` draws digits from a DBN",
                             description="Writes RUN/samples/*.png. `jaxae sample dbn --run WORKDIR` generates "
                             "digits from a pretrained DBN, one row per class when it was trained with --labels.")
    sa.add_argument("what", nargs="?", choices=["dbn"], help="dbn: --run is the --workdir of jaxae train dbn")
    sa.add_argument("--run", required=True, help="the run folder (--workdir of jaxae train)")
    sa.add_argument("--index", type=int, default=None, help="a run trained with --seeds or --sweep: which of its models (0-based)")
    sa.add_argument("--n", type=int, default=None, help="prior samples (default: 64; DBN: 10 per class)")
    sa.add_argument("--sweeps", type=int, default=1000, help="DBN: Gibbs sweeps in the top RBM (default: 1000)")
    sa.add_argument("--classifier", default=None, help="DBN with --labels: a dbn-classifier run that checks how many "
                    "generated digits look like their class")
    sa.add_argument("--seed", type=int, default=0, help="seed of the prior samples and noise (default: 0)")
    sa.add_argument("--data-dir", default=None, help="folder searched first for the data files")
    commands.add_parser("finetune", help="fine-tune a pretrained DBN: jaxae finetune dbn --as classifier|"
                        "autoencoder --pretrained WORKDIR (the options of jaxae train dbn-classifier or "
                        "dbn-autoencoder)", add_help=False)
    rec = commands.add_parser("recommend", help="top movies for a user from a recommender run",
                              description="Prints the movies a user has not rated with the highest predicted "
                              "ratings (cf-rbm, autorec) or like probabilities (rbm-binary), from the user's "
                              "training ratings.")
    rec.add_argument("--run", required=True, help="the run folder of a cf-rbm, autorec or rbm-binary run")
    rec.add_argument("--index", type=int, default=None, help="a run trained with --seeds or --sweep: which of its models (0-based)")
    rec.add_argument("--user", type=int, required=True, help="user id as in the data (1-based)")
    rec.add_argument("--top", type=int, default=10, help="how many movies (default: 10)")
    rec.add_argument("--movie", type=int, default=None, help="print the prediction for this movie id instead")
    rec.add_argument("--data-dir", default=None, help="folder searched first for the data files")
    return parser


def recommend_command(args) -> int:
    from jaxae.runs import load_run
    from jaxae.tools import recommend_for

    if args.top < 1:
        raise JaxaeError(f"--top must be at least 1, got {args.top}")
    run = load_run(args.run, args.data_dir, args.index)
    unit = "p(like)" if run.model == "rbm-binary" else "predicted rating"
    if args.movie is not None:
        from jaxae.tools import predict_one

        title, score, known = predict_one(run, args.user, args.movie, args.data_dir)
        note = f" (the user rated it {known} in training)" if known else ""
        print(f"user {args.user}, movie {args.movie} {title}: {unit} {score:.2f}{note}")
        return 0
    print(f"user {args.user}, {run.model} run {args.run} (epoch {run.epoch}); {unit}:")
    for rank, (title, score) in enumerate(recommend_for(run, args.user, args.top, args.data_dir), 1):
        print(f"{rank:3d}. {score:5.2f}  {title}")
    return 0


def train_command(args) -> int:
    from jaxae import data as jdata
    from jaxae.models import MODELS
    from jaxae.train import TrainConfig, fit

    config_cls, make_task = MODELS[args.model]
    model_config = _build(config_cls, args)
    train_config = _build(TrainConfig, args)
    if args.sweep:
        if train_config.lr_scales:
            raise JaxaeError("give --sweep or --lr-scales, not both")
        train_config = dataclasses.replace(train_config, lr_scales=_sweep_scales(args.sweep, model_config))
    workdir = args.workdir or f"runs/{args.model}-{args.data.replace(':', '-').replace('/', '-')}"
    dataset = jdata.load(args.data, args.data_dir, download=not args.no_download, tfds_download=args.tfds_download)
    if dataset.test_images.ndim == 3 and dataset.test_images.shape[1] == 2:  # a rating matrix
        n_users, n_items = dataset.train_images.shape
        size = (f"{n_users} users x {n_items} movies, {int((dataset.train_images > 0).sum())} training and "
                f"{int((dataset.test_images[:, 1] > 0).sum())} test ratings")
    else:
        size = f"{len(dataset.train_images)} train, {len(dataset.test_images)} test images"
    logging.getLogger("jaxae").info("training %s on %s (%s) in %s", args.model, dataset.name, size, workdir)
    run_config = {"model_name": args.model, "model": dataclasses.asdict(model_config), "data": args.data}
    if args.model == "dbn":
        return _train_dbn(model_config, dataset, train_config, workdir, args.resume, run_config)
    result = fit(make_task(model_config), dataset, train_config, workdir, resume=args.resume, run_config=run_config,
                 config_defaults={"model": dataclasses.asdict(config_cls())})
    if result.history:
        last = result.history[-1]
        shown = [k for k in ("train_loss", "train_recon_error") if k in last]
        shown += [k for k in last if k.startswith("test_") and not k.endswith(("_std", "_per_model"))]
        if train_config.scales():  # one line per model of the sweep
            base = model_config.learning_rate
            for i, (seed, scale) in enumerate(train_config.models()):
                values = ", ".join(f"{k}={last[k + '_per_model'][i]:.5g}" for k in shown)
                print(f"learning_rate={base * scale:.4g} seed={seed}: {values}")
            values = f"{train_config.n_models} models, mean: " + ", ".join(f"{k}={last[k]:.5g}" for k in shown)
        elif train_config.seeds > 1:  # mean ± std over the models
            values = ", ".join(f"{k}={last[k]:.5g}±{last[k + '_std']:.2g}" for k in shown)
            values = f"{train_config.seeds} models (seeds {train_config.seed}..{train_config.seed + train_config.seeds - 1}): " + values
        else:
            values = ", ".join(f"{k}={last[k]:.5g}" for k in shown)
        print(f"epoch {last['epoch']}: {values}; "
              f"{last['samples_per_s']:.0f} samples/s ({last['mode']} mode); run folder: {workdir}")
    else:
        print(f"nothing to train: {workdir} already has {train_config.epochs} epochs; raise --epochs to go on")
    return 0


def _sweep_scales(text: str, model_config) -> str:
    """--sweep learning_rate=1e-3,3e-3 -> TrainConfig.lr_scales relative to the model's learning rate."""
    name, _, values = text.partition("=")
    if name.strip().replace("-", "_") not in ("learning_rate", "lr") or not values:
        raise JaxaeError(f"--sweep takes learning_rate=V,V,... (the learning rate is what vmapped models can vary), "
                         f"got {text!r}")
    try:
        rates = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise JaxaeError(f"--sweep values must be numbers, got {values!r}") from None
    if any(not r > 0 for r in rates):
        raise JaxaeError(f"--sweep learning rates must be positive, got {values!r}")
    return ",".join(repr(r / model_config.learning_rate) for r in rates)


def _train_dbn(config, dataset, train_config, workdir, resume, run_config) -> int:
    import json
    import os

    from jaxae.models import dbn

    dbn.pretrain(config, dataset, train_config, workdir, resume=resume, run_config=run_config)
    for i in range(len(config.layers)):
        with open(os.path.join(workdir, f"layer_{i + 1}", "metrics.jsonl")) as f:
            last = json.loads(f.read().splitlines()[-1])
        print(f"layer {i + 1} ({config.layers[i]} hidden), epoch {last['epoch']}: test_recon_error="
              f"{last['test_recon_error']:.5g}, free_energy_gap={last['free_energy_gap']:.4g}; "
              f"run folder: {workdir}/layer_{i + 1}")
    return 0


def eval_command(args) -> int:
    import json

    from jaxae.runs import load_run
    from jaxae.tools import evaluate_run

    run = load_run(args.run, args.data_dir, args.index)
    if args.ais:
        from jaxae.models.rbm import RBMParams

        if not isinstance(run.state.params, RBMParams):
            raise JaxaeError(f"--ais estimates an RBM's log Z, but {args.run} is a {run.model} run; drop --ais")
        if args.ais_chains < 2 or args.ais_temperatures < 2:
            raise JaxaeError("--ais-chains and --ais-temperatures must be at least 2")
    result = evaluate_run(run, args.k, args.chunk, args.batch_size, args.limit, progress=not args.no_progress,
                          ais_chains=args.ais_chains if args.ais else 0, ais_temperatures=args.ais_temperatures)
    print(json.dumps(result))
    if "ais_log_z" in result:
        exact = f" (exact {result['exact_log_z']:.2f})" if "exact_log_z" in result else ""
        print(f"{run.model} epoch {run.epoch}: AIS log Z {result['ais_log_z']:.2f} ± {result['ais_log_z_stderr']:.2f}"
              f"{exact}, test log-likelihood {result['test_log_likelihood']:.2f} ± "
              f"{result['test_log_likelihood_stderr']:.2f} nats over {result['n_test']} test images"
              f" (AIS effective sample size {result['ais_ess']:.0f} of {result['ais_chains']} chains)")
        if result["ais_ess"] < 0.1 * result["ais_chains"] or result["ais_log_z_stderr"] > 0.5:
            print("jaxae: warning: the AIS weights are dominated by a few chains, so log Z is probably "
                  "underestimated and the log-likelihood too good; rerun with more --ais-temperatures and "
                  "--ais-chains and compare", file=sys.stderr)
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


def sample_command(args) -> int:
    from jaxae.runs import load_run
    from jaxae.tools import sample_dbn, sample_run

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
        paths = sample_run(load_run(args.run, args.data_dir, args.index), args.n or 64, args.seed)
    for path in paths:
        print(path)
    return 0


FINETUNE = {"classifier": "dbn-classifier", "autoencoder": "dbn-autoencoder"}


def finetune_argv(argv: list[str]) -> list[str]:
    """`finetune dbn --as classifier|autoencoder REST` -> `train dbn-classifier|dbn-autoencoder REST`."""
    rest, kind = list(argv[1:]), None
    if rest[:1] != ["dbn"]:
        raise JaxaeError("usage: jaxae finetune dbn --as classifier|autoencoder --pretrained WORKDIR [options]")
    rest = rest[1:]
    for i, arg in enumerate(rest):
        if arg == "--as" and i + 1 < len(rest):
            kind, rest = rest[i + 1], rest[:i] + rest[i + 2 :]
            break
        if arg.startswith("--as="):
            kind, rest = arg.split("=", 1)[1], rest[:i] + rest[i + 1 :]
            break
    if kind not in FINETUNE:
        raise JaxaeError(f"jaxae finetune dbn needs --as classifier or --as autoencoder, got {kind or 'nothing'}")
    return ["train", FINETUNE[kind], *rest]


def main(argv: list[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("jaxae: %(message)s"))
    logger = logging.getLogger("jaxae")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for noisy in ("absl", "orbax", "jax"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    parser = make_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if os.environ.get("JAXAE_DISTRIBUTED") == "1":  # multi-host: one process per host, see the README
        import jax

        try:
            jax.distributed.initialize()
        except (ValueError, RuntimeError) as e:
            print(f"jaxae: error: JAXAE_DISTRIBUTED=1 but jax.distributed.initialize() failed ({e}); on Cloud TPU "
                  "start every worker, elsewhere set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and "
                  "JAX_PROCESS_ID, or unset JAXAE_DISTRIBUTED for one host", file=sys.stderr)
            return 2
    if argv[:1] == ["finetune"]:
        try:
            argv = finetune_argv(argv)
        except JaxaeError as e:
            print(f"jaxae: error: {e}", file=sys.stderr)
            return 2
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return train_command(args)
        if args.command == "eval":
            return eval_command(args)
        if args.command == "sample":
            return sample_command(args)
        if args.command == "recommend":
            return recommend_command(args)
    except JaxaeError as e:
        print(f"jaxae: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable run folder, full disk, ...: the OS's own words are clear
        print(f"jaxae: error: {e.strerror or e}: {e.filename or ''}; choose another --workdir or free "
              "the disk", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxae: interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
