"""The `jaxae` command line (layer 4): one module per command, dispatching on what a task offers."""
