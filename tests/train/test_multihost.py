"""Several processes as one run, for real: 2 processes x 2 CPU devices on 127.0.0.1 through
jax.distributed (gloo collectives), against 1 process x 4 devices. The pytest process never joins; every
process it starts is killed (if still alive) when the test ends."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxae
from jaxae.tasks import load_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The launches share no persistent compilation cache (they did until jax 0.12.1): with jax 0.12.1 a
# two-process run whose programs came from the cache did not write its second checkpoint within 60 s.
AE = ["train", "ae", "--hidden", "32,16", "--latent", "3", "--batch-size", "1000", "--no-progress"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launcher:
    """launch(command, processes, devices, timeout) -> Popen handles: `processes` copies of `python -m
    command` (the README's local form: --coordinator, --num-processes, --process-id), each with `devices`
    CPU devices and the distributed timeout `timeout` (seconds); `close()` kills those still running
    (only the ones it started)."""

    def __init__(self):
        self.started = []

    def __call__(self, command, processes, devices, timeout=15):
        port, procs = free_port(), []
        for i in range(processes):
            hosts = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes), "--process-id", str(i)]
            # without the suite's compilation cache (tests/conftest.py): with it, on jax 0.12.1 (not 0.10.2), the
            # second 2-process run of a command times out in its Gloo all-reduce (README, several hosts, (a))
            env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
            env = {**env, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT, "JAXAE_DISTRIBUTED_TIMEOUT": str(timeout),
                   "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()}
            procs.append(subprocess.Popen([sys.executable, "-m", *command, *(hosts if processes > 1 else [])],
                                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        self.started.extend(procs)
        return procs

    def close(self):
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def launch():
    launcher = Launcher()
    yield launcher
    launcher.close()


def finish(procs, timeout=120):
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=timeout)
        out.append((proc.returncode, stdout, stderr))
    return out


def report(results) -> str:
    """Each process's exit status and the end of its stderr, in full (a list would be cut short by pytest)."""
    return "\n".join(f"process {i}: exit {rc}\n{err[-2000:]}" for i, (rc, _, err) in enumerate(results))


def digests(stdout: str) -> dict:
    return dict(re.findall(r"^(\w+) ([0-9a-f]{64})$", stdout, re.M))


def params(folder):
    return jax.tree.leaves(jax.device_get(load_run(folder).state.params))


def assert_close(a, b):
    for x, y in zip(params(a), params(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_two_processes_train_the_models_of_one_process_with_four_devices(launch, tmp_path):
    two, one = (launch(["tests.train.multihost_worker", str(tmp_path / "two")], 2, 2),  # both at once
                launch(["tests.train.multihost_worker", str(tmp_path / "one")], 1, 4))
    two, one = finish(two), finish(one)
    assert all(rc == 0 for rc, _, _ in two + one), report(two + one)
    assert digests(two[0][1]) == digests(two[1][1]) and len(digests(two[0][1])) == 3  # bit-identical processes
    for name in ("ae", "vae", "rbm"):
        assert_close(tmp_path / "two" / name, tmp_path / "one" / name)
        lines = (tmp_path / "two" / name / "metrics.jsonl").read_text().splitlines()
        assert [int(x.split('"epoch": ')[1].split(",")[0]) for x in lines] == [1, 2]  # one line per epoch
        assert sorted(os.listdir(tmp_path / "two" / name / "checkpoints")) == ["1", "2"]


def test_two_processes_each_read_half_the_shards_and_train_the_model_of_one_process_with_two_devices(launch, tmp_path):
    from jaxae.data import shards  # (16 shards of 64 digits: each process's 8 make its half of every batch)

    mini = jaxae.data.load("mnist-mini")
    data = mini._replace(train_images=mini.train_images[:1024], train_labels=None, test_images=mini.test_images[:256],
                         test_labels=None)
    written = shards.write(str(tmp_path / "shards"), data, shard_bytes=64 * 784).path
    two = launch(["tests.train.shard_worker", written, str(tmp_path / "two")], 2, 1)
    one = launch(["tests.train.shard_worker", written, str(tmp_path / "one")], 1, 2)
    two, one = finish(two), finish(one)
    assert all(rc == 0 for rc, _, _ in two + one), report(two + one)
    read = [re.search(r"^read (.*)$", out, re.M).group(1) for _, out, _ in two + one]
    assert read == [",".join(map(str, range(8))), ",".join(map(str, range(8, 16))), ",".join(map(str, range(16)))]
    assert digests(two[0][1]) == digests(two[1][1])
    for x, y in zip(params(tmp_path / "two"), params(tmp_path / "one")):
        assert np.max(np.abs(x - y)) <= 1e-6
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [int(x.split('"epoch": ')[1].split(",")[0]) for x in lines] == [1, 2]
    assert sorted(os.listdir(tmp_path / "two" / "checkpoints")) == ["1", "2"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-process AE run of 5 epochs (its folder)."""
    folder, launch = tmp_path_factory.mktemp("multihost") / "reference", Launcher()
    try:
        results = finish(launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(folder)], 2, 2))
    finally:
        launch.close()
    assert all(rc == 0 for rc, _, _ in results), report(results)
    return folder


def wait_for(path, timeout=60):
    t0 = time.time()
    while not os.path.exists(path):
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.1)


def test_a_killed_worker_stops_the_other_and_the_run_resumes(launch, tmp_path, reference):
    folder = tmp_path / "killed"
    procs = launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(folder)], 2, 2)
    wait_for(folder / "checkpoints" / "2")
    procs[1].send_signal(signal.SIGKILL)
    t0 = time.time()
    rc, _, err = finish(procs[:1], timeout=30)[0]
    assert time.time() - t0 < 30 and rc == 3
    assert err.strip().splitlines()[-1].startswith("jaxae: error: process 1 of 2 stopped; process 0 stops too")
    saved = sorted(int(e) for e in os.listdir(folder / "checkpoints"))
    assert saved and saved[-1] >= 2  # the last committed checkpoint is kept
    # resume a copy with 2 processes (bit for bit the uninterrupted run) and one with 1 x 4 devices, at once
    elastic = tmp_path / "elastic"
    shutil.copytree(folder, elastic)
    resumed = launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(folder), "--resume"], 2, 2)
    single = launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(elastic), "--resume"], 1, 4)
    results = finish(resumed) + finish(single)
    assert all(rc == 0 for rc, _, _ in results), report(results)
    for a, b in zip(params(folder), params(reference)):
        np.testing.assert_array_equal(a, b)
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 5
    assert_close(elastic, reference)


def test_sigterm_saves_at_an_agreed_epoch_and_resumes_exactly(launch, tmp_path, reference):
    folder = tmp_path / "preempted"
    procs = launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(folder)], 2, 2)
    wait_for(folder / "checkpoints" / "1")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    results = finish(procs, timeout=60)
    assert [rc for rc, _, _ in results] == [75, 75], report(results)
    stopped = [int(re.search(r"stopped on SIGTERM after epoch (\d+)", e).group(1)) for _, _, e in results]
    assert stopped[0] == stopped[1] < 5 and str(stopped[0]) in os.listdir(folder / "checkpoints")
    resumed = finish(launch(["jaxae", *AE, "--epochs", "5", "--workdir", str(folder), "--resume"], 2, 2))
    assert all(rc == 0 for rc, _, _ in resumed)
    for a, b in zip(params(folder), params(reference)):
        np.testing.assert_array_equal(a, b)


def test_the_others_wait_while_process_0_writes_the_run_folder(launch, tmp_path):
    # process 0 takes 8 s to write epoch 1's metrics line and the loss curves, the timeout being 6 s:
    # the others once waited in epoch 2's first collective and in JAX's shutdown barrier, which gave up
    procs = launch(["tests.train.slow_writer", "8", *AE, "--epochs", "2", "--workdir", str(tmp_path / "run")], 2, 1,
                   timeout=6)
    results = finish(procs)
    assert [rc for rc, _, _ in results] == [0, 0], report(results)
    same = {re.search(r"parameters sha256 ([0-9a-f]{64})$", out, re.M).group(1) for _, out, _ in results}
    assert len(same) == 1  # both processes hold the same parameters
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "run" / "loss_curve.png").exists()


def test_eval_of_a_multi_process_run_from_one_process(reference, capsys):
    from jaxae.apps.cli import main

    last = (reference / "metrics.jsonl").read_text().splitlines()[-1]
    assert main(["eval", "--run", str(reference), "--no-progress"]) == 0
    out = capsys.readouterr().out
    mse = float(re.search(r'"test_mse": ([\d.e-]+)', out).group(1))
    assert mse == pytest.approx(float(re.search(r'"test_mse": ([\d.e-]+)', last).group(1)), rel=1e-6)


def test_the_readme_shows_the_command_these_tests_run():
    readme = open(os.path.join(ROOT, "README.md")).read()
    command = "jaxae " + " ".join(AE) + " --epochs 5 --workdir runs/ae-2x2"
    assert readme.count(command) == 2 and "--coordinator 127.0.0.1:12345 --num-processes 2 --process-id 1" in readme
