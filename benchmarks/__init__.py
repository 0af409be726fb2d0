"""Throughput benchmarks: jaxae against reference implementations, same machine, same run."""
