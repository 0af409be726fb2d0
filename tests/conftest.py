import functools
import http.server
import os
import threading

import numpy as np
import pytest

import jaxae

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
