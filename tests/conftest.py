"""Shared fixtures, and the compiler setting of the suite.

The suite's time is mostly XLA compiling hundreds of small programs (each model, mode and device count),
so it compiles them with LLVM at -O1 instead of -O2 (XLA_FLAGS --xla_backend_optimization_level=1; every
process a test starts inherits it): compile-bound tests take about a fifth less time (tests/tasks/test_vae.py
with tests/train/test_loop.py: 130 s -> 101 s), long scans run as fast (-O0 would compile faster still but
runs them 3-6x slower: the AIS test 15 s -> 96 s), and XLA's own passes (fusion, layout) are unchanged. What it changes is float rounding at most: measured on 2-epoch runs, the AE, conv AE and SAE
are bitwise the default compile's and the others within 2e-7 of their largest value.
tests/test_compiler.py checks that premise and a bitwise resume under the default compile.
JAXAE_TEST_XLA_OPT=default runs the whole suite with XLA's default instead."""
import functools
import http.server
import os
import threading

FAST_COMPILE = "--xla_backend_optimization_level=1"
if os.environ.get("JAXAE_TEST_XLA_OPT", "0") != "default" and "xla_backend_optimization_level" not in os.environ.get(
        "XLA_FLAGS", ""):  # before JAX is imported: XLA reads the flags once, when its backend starts
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several test processes (-n in pyproject.toml): they share a GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxae  # noqa: E402

DATA_DIR = os.environ.get("JAXAE_DATA_DIR")  # read once: some tests unset the variable


@pytest.fixture(scope="session")
def data_dir():
    """$JAXAE_DATA_DIR (the shared real data). Under CI it must be set: the tests fail, not skip."""
    path = DATA_DIR
    if not path or not os.path.isdir(path):
        if os.environ.get("CI"):
            pytest.fail("JAXAE_DATA_DIR is not set or missing under CI; .ci/run must set it")
        pytest.skip("JAXAE_DATA_DIR is not set")
    return path


@pytest.fixture(scope="session")
def mini():
    return jaxae.data.load_mini()


@pytest.fixture(scope="session")
def small(mini):
    """512 training and 256 test digits from mnist-mini: fast trainer tests."""
    return jaxae.data.Dataset(mini.train_images[:512], mini.train_labels[:512],
                              mini.test_images[:256], mini.test_labels[:256], "small")


def tree_equal(a, b) -> bool:
    import jax

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


@pytest.fixture
def server():
    """Serves a folder on 127.0.0.1; yields a function folder -> base URL."""
    servers = []

    def serve(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def read_trace(run_dir) -> list[dict]:
    """The events of the one Perfetto trace `--profile` wrote into run_dir/profile/ (non-empty)."""
    import glob
    import gzip
    import json

    traces = glob.glob(os.path.join(str(run_dir), "profile", "plugins", "profile", "*", "perfetto_trace.json.gz"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0, traces
    with gzip.open(traces[0], "rt") as f:
        return json.load(f)["traceEvents"]
