"""Shared fixtures, the order the workers take the files in, and the compiler setting of the suite.

The suite's time is mostly XLA compiling hundreds of small programs (each model, mode and device count),
so it compiles them faster than XLA's default (SUITE_FLAGS, added to XLA_FLAGS before JAX starts; every
process a test starts inherits them):
- LLVM at -O1 instead of -O2 (--xla_backend_optimization_level=1): compile-bound tests take about a fifth
  less time (tests/tasks/test_vae.py with tests/train/test_loop.py: 130 s -> 101 s), long scans run as
  fast (-O0 would compile faster still but runs them 3-6x slower: the AIS test 15 s -> 96 s);
- on jaxlib 0.10 (the newest on Python 3.11), also the loop emitters for elementwise fusions instead of its
  new MLIR fusion emitters (--xla_cpu_use_fusion_emitters=false; jaxlib 0.12 has only the new ones and
  stops at the flag). `python -m benchmarks.compile --rounds 2 -- "" "--xla_backend_optimization_level=1"
  "--xla_cpu_use_fusion_emitters=false" "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false"`
  (benchmarks/results/compile_cpu_2026-12-07.jsonl): XLA compiles 2 epochs of the AE, VAE, PCD RBM and
  conv AE in 5.9-6.7 s with both flags, 9.1-9.5 s with -O1 alone, 12.0-12.4 s with the loop emitters
  alone, 13.6-14.0 s with neither; the loop emitters' programs run slower (the VAE at 20-22k samples/s
  against 29-31k), which this compile-bound suite does not feel: its summed test time on Python 3.11 fell
  from 1,453-1,649 s to 1,281 s, a fresh clone's run from 13:05 to 11:11 (with the file order below).
-O1 leaves XLA's own passes (fusion, layout) as they are. What the flags change is float rounding at
most: -O1 alone trains all four models bitwise as the default compile does, the loop emitters alone the
VAE and RBM; together they differ from it by up to 6e-6 of a leaf's largest value after 2 epochs.
tests/test_compiler.py checks that premise and a bitwise resume under the default compile.
JAXAE_TEST_XLA_OPT=default runs the whole suite with XLA's default instead."""
import functools
import http.server
import os
import shutil
import tempfile
import threading
from importlib import metadata


def _jaxlib_version() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in metadata.version("jaxlib").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return ()


SUITE_FLAGS = ["--xla_backend_optimization_level=1"]
if _jaxlib_version() == (0, 10):  # measured on 0.10.2; 0.12.1 no longer knows the flag
    SUITE_FLAGS.append("--xla_cpu_use_fusion_emitters=false")
if os.environ.get("JAXAE_TEST_XLA_OPT", "0") != "default":
    # before JAX is imported: XLA reads the flags once, when its backend starts; a flag set already is kept
    given = os.environ.get("XLA_FLAGS", "")
    added = [flag for flag in SUITE_FLAGS if flag.split("=")[0] not in given]
    os.environ["XLA_FLAGS"] = " ".join([given, *added]).strip()

# One persistent compilation cache for every process of this test session (the pytest workers and the
# processes the tests start inherit its environment; tests/train/test_multihost.py's launches drop it, see
# there): a program one test compiled, another loads from disk instead of compiling it again (the same
# model at the same shapes is trained by many CLI and resume tests). JAX keys an entry by the program, the
# compile options and flags, the devices and the jaxlib version, so a test gets the executable it would
# have compiled. The folder is new for each session and removed at its end (pytest_unconfigure; a killed
# session leaves it in the temporary folder). No size limit: with one, JAX locks the folder and rescans it
# at every write, and the suite ran slower than without a cache. Without the lock, a process could read an
# entry another is still writing; JAX turns an error reading an entry into a warning and compiles the
# program (jax/_src/compiler.py, _cache_read; not seen in the suite). Measured: the suite on Python 3.11,
# 2 cores, 13:03 without, 11:27 with it (one run each, 2026-12-08). JAXAE_TEST_COMPILATION_CACHE=0
# compiles everything afresh.
_OWN_CACHE = None
if os.environ.get("JAXAE_TEST_COMPILATION_CACHE", "1") != "0" and "JAXAE_TEST_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="jaxae-test-xla-cache-")
    os.environ.update(JAXAE_TEST_CACHE_DIR=_OWN_CACHE, JAX_COMPILATION_CACHE_DIR=_OWN_CACHE,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")

if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several test processes (-n in pyproject.toml): they share a GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxae  # noqa: E402

DATA_DIR = os.environ.get("JAXAE_DATA_DIR")  # read once: some tests unset the variable

# The files that take longest (seconds of test time on 2 cores, jax 0.10.2, two suite runs of 2026-12-07),
# handed to the workers first. xdist gives each worker whole files, in collection order (pyproject.toml:
# --dist loadfile --no-loadscope-reorder); by default it orders them by their number of tests, which left
# these few-test, long files to the end, one worker running them alone: 877 s against 772 s of test time
# on the two workers of one run, where longest-first splits the same files 829/820 (replayed from its
# junit report).
SLOWEST_FIRST = (
    "tests/train/test_multihost.py",     # 153-185 s
    "tests/train/test_parallel.py",      # 138-149 s
    "tests/tasks/test_dbn.py",           # 94-128 s
    "tests/test_examples.py",            # 102-115 s
    "tests/data/test_shards.py",         # 72-97 s
    "tests/test_benchmarks.py",          # 73-81 s
    "tests/apps/test_cli.py",            # 67-68 s
    "tests/sae/test_task.py",            # 58-73 s
    "tests/tasks/test_dbm.py",           # 60 s
    "tests/tasks/test_rbm.py",           # 55 s
    "tests/test_nnx.py",                 # 49-59 s
    "tests/train/test_summaries.py",     # 37-59 s
    "tests/rbm/test_dbm.py",             # 46-48 s
    "tests/test_docs_snippets.py",       # 37-44 s
    "tests/train/test_loop.py",          # 38 s
    "tests/tasks/test_vae.py",           # 35-37 s
)


def pytest_unconfigure(config):
    """Removes the session's compilation cache (in the process that made it: the controller)."""
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Puts the tests of SLOWEST_FIRST's files first, in its order (the rest keep theirs)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    missing = [f for f in SLOWEST_FIRST if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py SLOWEST_FIRST names files that do not exist: {missing}; "
                                "update the list")
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
