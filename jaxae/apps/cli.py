"""The `jaxae` command: the parser and the dispatch to one module per command (train, eval, sample,
recommend). Configs are frozen dataclasses; every field is a command-line option."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from jaxae.apps.options import AIS_DEFAULTS, add_dataclass_options, summary
from jaxae.errors import JaxaeError, Preempted

TRAIN_HELP = """examples:
  jaxae train ae --data mnist-mini --epochs 10 --workdir runs/ae     (offline, bundled digits)
  jaxae train ae --data mnist --epochs 10 --workdir runs/ae-mnist   (finds or downloads MNIST)
  jaxae train ae --workdir runs/ae --epochs 20 --resume             (continue a run)"""


def make_parser() -> argparse.ArgumentParser:
    from jaxae.data import NAMES
    from jaxae.tasks import MODELS
    from jaxae.train import TrainConfig

    parser = argparse.ArgumentParser(prog="jaxae", description="Autoencoders and Boltzmann machines on JAX.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model", description="Train a model.",
                                epilog=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name, entry in MODELS.items():
        sub = models.add_parser(name, help=summary(entry.config), description=summary(entry.config),
                                epilog=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--data", default="mnist-mini", help=f"dataset: {', '.join(NAMES)} (default: mnist-mini)")
        sub.add_argument("--data-dir", default=None, help="folder searched first for the data files")
        sub.add_argument("--no-download", action="store_true", help="never try to download missing data")
        sub.add_argument("--tfds-download", action="store_true", help="let tfds download and prepare tfds:NAME")
        sub.add_argument("--workdir", default=None, help="run folder (default: runs/MODEL-DATA)")
        sub.add_argument("--resume", action="store_true", help="continue from the newest intact checkpoint")
        sub.add_argument("--sweep", default=None, metavar="learning_rate=V,V,...",
                         help="train one vmapped model per learning rate (times --seeds) in one program")
        hosts = sub.add_argument_group("several processes (hosts) as one run; see the README")
        hosts.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                           help="process 0's address (also $JAXAE_COORDINATOR or $JAX_COORDINATOR_ADDRESS)")
        hosts.add_argument("--num-processes", type=int, default=None,
                           help="how many processes (also $JAXAE_NUM_PROCESSES or $JAX_NUM_PROCESSES)")
        hosts.add_argument("--process-id", type=int, default=None,
                           help="this process's index from 0 (also $JAXAE_PROCESS_ID or $JAX_PROCESS_ID)")
        hosts.add_argument("--distributed", action="store_true",
                           help="join the other processes even without the three options above (Cloud TPU and "
                           "SLURM are detected; also JAXAE_DISTRIBUTED=1)")
        hosts.add_argument("--distributed-timeout", type=int, default=None, metavar="SECONDS",
                           help="how long to wait for all processes to join, and for a silent peer before stopping "
                           "(default 30; also $JAXAE_DISTRIBUTED_TIMEOUT)")
        add_dataclass_options(sub, TrainConfig, "training", entry.train_defaults)
        add_dataclass_options(sub, entry.config, f"model ({name})")

    dw = commands.add_parser("data", help="write a dataset as shards on disk (jaxae data write OUT --from mnist)",
                             description="Data files: `jaxae data write OUT --from NAME` writes a dataset as a shard "
                             "set (.npy shards and index.json) that `jaxae train --data shards:OUT` streams.")
    dw_commands = dw.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    dww = dw_commands.add_parser("write", help="write a dataset as a shard set in the new folder OUT")
    dww.add_argument("out", help="the folder to create (must not exist or be empty)")
    dww.add_argument("--from", dest="source", required=True, help=f"the dataset: {', '.join(NAMES)}")
    dww.add_argument("--data-dir", default=None, help="folder searched first for the data files")
    dww.add_argument("--no-download", action="store_true", help="never try to download missing data")
    dww.add_argument("--shard-mb", type=float, default=64, help="target size of one shard in MiB (default 64)")
    ex = commands.add_parser("export", help="write a run's parameters as safetensors",
                             description="Writes the newest checkpoint's parameters of a run as a safetensors file: "
                             "tensors named by tree path, the model's name and config in the metadata.")
    ex.add_argument("out", help="the .safetensors file to write")
    ex.add_argument("--run", required=True, help="the run folder (--workdir of jaxae train)")
    ex.add_argument("--format", default="safetensors", choices=["safetensors"], help="the file format")
    ex.add_argument("--index", type=int, default=None, help="a run trained with --seeds or --sweep: which model")
    act = commands.add_parser("activations", help="write a layer of a trained model as a shard set (for an SAE)",
                              description="Runs a trained model's layer (`--layer`: e.g. code, hidden1, latents) on "
                              "its data's train and test examples, in order, and writes the outputs as a shard set "
                              "that `jaxae train sae --data shards:OUT` trains on.")
    act.add_argument("--run", required=True, help="the run folder (--workdir of jaxae train)")
    act.add_argument("--layer", required=True, help="the layer to write (a wrong name lists the model's layers)")
    act.add_argument("--out", required=True, help="the folder to create (must not exist or be empty)")
    act.add_argument("--index", type=int, default=None, help="a run trained with --seeds or --sweep: which model")
    act.add_argument("--batch-size", type=int, default=1024, help="examples per call of the layer (default 1024)")
    act.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="stored type (default float32)")
    act.add_argument("--data-dir", default=None, help="folder searched first for the data files")
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
    # (None when not given: eval refuses them without --ais and fills in AIS_DEFAULTS)
    ev.add_argument("--ais-chains", type=int, default=None,
                    help=f"AIS chains (default: {AIS_DEFAULTS['ais_chains']})")
    ev.add_argument("--ais-temperatures", type=int, default=None,
                    help=f"AIS temperatures (default: {AIS_DEFAULTS['ais_temperatures']})")
    ev.add_argument("--ais-schedule", choices=("uniform", "salakhutdinov"), default=None,
                    help="spacing of the AIS temperatures: uniform, or salakhutdinov (Salakhutdinov & Murray 2008: "
                         f"denser near 1; default: {AIS_DEFAULTS['ais_schedule']})")

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
    commands.add_parser("finetune", help="fine-tune a pretrained DBN or DBM: jaxae finetune dbn --as "
                        "classifier|autoencoder --pretrained WORKDIR (the options of jaxae train dbn-classifier or "
                        "dbn-autoencoder); jaxae finetune dbm --as classifier --pretrained WORKDIR (jaxae train "
                        "dbm-classifier)", add_help=False)
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
    cmp = commands.add_parser("compare", help="overlay runs' curves of a metric; a table of final and best values",
                              description="Draws one metric per epoch for several runs (mean and std bands for runs "
                              "of several models) and prints a Markdown table of each run's final and best values, "
                              "epochs, wall time and speed.")
    cmp.add_argument("run", nargs="*", help="run folders")
    cmp.add_argument("--metric", required=True, help="a metrics.jsonl key, e.g. test_neg_elbo")
    cmp.add_argument("--out", default=None, help="the PNG to write (default: compare_METRIC.png)")
    lst = commands.add_parser("runs", help="a table of the run folders under a folder",
                              description="Lists the run folders under FOLDER: model, data, epochs done, the last test "
                              "metrics, and whether the newest checkpoint reads back intact.")
    lst.add_argument("folder", nargs="?", default="runs", help="where to look (default: runs)")
    lst.add_argument("--no-verify", action="store_true", help="do not read the checkpoints back")
    return parser


FINETUNE = {"dbn": {"classifier": "dbn-classifier", "autoencoder": "dbn-autoencoder"},
            "dbm": {"classifier": "dbm-classifier"}}


def finetune_argv(argv: list[str]) -> list[str]:
    """`finetune dbn --as classifier|autoencoder REST` -> `train dbn-classifier|dbn-autoencoder REST`;
    `finetune dbm --as classifier REST` -> `train dbm-classifier REST`."""
    rest, kind = list(argv[1:]), None
    if rest[:1] not in (["dbn"], ["dbm"]):
        raise JaxaeError("usage: jaxae finetune dbn|dbm --as classifier|autoencoder --pretrained WORKDIR [options]")
    model, rest = rest[0], rest[1:]
    for i, arg in enumerate(rest):
        if arg == "--as" and i + 1 < len(rest):
            kind, rest = rest[i + 1], rest[:i] + rest[i + 2 :]
            break
        if arg.startswith("--as="):
            kind, rest = arg.split("=", 1)[1], rest[:i] + rest[i + 1 :]
            break
    if kind not in FINETUNE[model]:
        raise JaxaeError(f"jaxae finetune {model} needs --as {' or --as '.join(FINETUNE[model])}, got "
                         f"{kind or 'nothing'}")
    return ["train", FINETUNE[model][kind], *rest]


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (not when the handler was made), so a
    program that calls main() more than once, with stderr replaced in between, never writes to a
    closed stream."""

    def emit(self, record):
        self.stream = sys.stderr
        super().emit(record)


def _distributed(args) -> bool:
    """Whether this `jaxae train` is one process of several (options, JAXAE_* / JAX_* variables, or
    JAXAE_DISTRIBUTED=1 for auto-detection on Cloud TPU and SLURM)."""
    env = os.environ
    return bool(args.distributed or args.coordinator or args.num_processes or args.process_id is not None
                or env.get("JAXAE_DISTRIBUTED") == "1" or env.get("JAXAE_COORDINATOR")
                or env.get("JAX_COORDINATOR_ADDRESS"))


def main(argv: list[str] | None = None) -> int:
    """The `jaxae` command; returns its exit status. One process of several ends at once after an
    error (os._exit), so that the others' watchdogs see it stop instead of waiting in a shutdown
    barrier for it."""
    code = _main(argv)
    if code and _joined():
        from jaxae.train import distributed

        distributed.exit_now(code)
    return code


def _joined() -> bool:
    """Whether this process joined others through jax.distributed."""
    if "jax" not in sys.modules:
        return False
    from jaxae.train import distributed

    return distributed.client() is not None


def _main(argv: list[str] | None = None) -> int:
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("jaxae: %(message)s"))
    logger = logging.getLogger("jaxae")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for noisy in ("absl", "orbax", "jax"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    parser = make_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["finetune"]:
        try:
            argv = finetune_argv(argv)
        except JaxaeError as e:
            print(f"jaxae: error: {e.cli}", file=sys.stderr)
            return 2
    args = parser.parse_args(argv)
    try:
        if args.command == "train" and _distributed(args):  # several processes: join them before anything else
            from jaxae.train import distributed

            distributed.initialize(distributed.Cluster.from_env(
                coordinator=args.coordinator, num_processes=args.num_processes, process_id=args.process_id,
                timeout=args.distributed_timeout))
        if args.command == "train":
            from jaxae.apps.train import train_command

            return train_command(args)
        if args.command == "data":
            from jaxae.apps.data import data_command

            return data_command(args)
        if args.command == "export":
            from jaxae.tasks import export_run, load_run

            path = export_run(load_run(args.run, index=args.index), args.out)
            print(f"wrote the parameters of {args.run} to {path}")
            return 0
        if args.command == "activations":
            from jaxae.apps.activations import activations_command

            return activations_command(args)
        if args.command == "eval":
            from jaxae.apps.evaluate import eval_command

            return eval_command(args)
        if args.command == "sample":
            from jaxae.apps.sample import sample_command

            return sample_command(args)
        if args.command == "recommend":
            from jaxae.apps.recommend import recommend_command

            return recommend_command(args)
        if args.command == "compare":
            from jaxae.apps.compare import compare_command

            return compare_command(args)
        if args.command == "runs":
            from jaxae.apps.compare import runs_command

            return runs_command(args)
    except Preempted as e:
        print(f"jaxae: {e.cli}", file=sys.stderr)
        return Preempted.exit_code
    except JaxaeError as e:
        print(f"jaxae: error: {e.cli}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable run folder, full disk, ...: the OS's own words are clear
        print(f"jaxae: error: {e.strerror or e}: {e.filename or ''}; choose another --workdir or free "
              "the disk", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxae: interrupted; resume with --resume", file=sys.stderr)
        return 130
    except Exception:
        if not _joined():
            raise
        import traceback  # one process of several: report, then end at once (see main)

        from jaxae.train import distributed

        distributed.exit_for_failed_peers(wait=15)  # a collective broken by a dead peer: name the peer
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
