"""The `jaxae` command line (layer 4): one module per command (cli, train, evaluate, sample, recommend),
dispatching on what a task offers."""
from jaxae.apps.cli import main

__all__ = ["main"]
