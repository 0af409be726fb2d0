"""Every script in examples/ runs with its defaults and prints what it promises (each in a fresh
interpreter; MovieLens from $JAXAE_DATA_DIR)."""
import os
import re
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run(name, *args, env=None, cwd=None):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], capture_output=True, text=True,
                         timeout=240, cwd=cwd, env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return float(match.group(1))


def test_every_example_is_tested_and_short():
    scripts = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py"))
    assert scripts == ["beta_vae.py", "dbn.py", "many_models.py", "nnx_vae.py", "open_run.py", "rbm_scan.py",
                       "recommender.py"]
    for script in scripts:
        text = open(os.path.join(EXAMPLES, script)).read()
        assert len(text.splitlines()) <= 100 and text.startswith('"""'), script


def test_beta_vae():
    out = run("beta_vae.py")
    elbo, nll = number(r"test -ELBO ([\d.]+)", out), number(r"IS-NLL \(k=200, 500 test digits\) ([\d.]+)", out)
    assert 80 < nll < elbo < 300


def test_rbm_scan():
    out = run("rbm_scan.py")
    before, after = number(r"exact NLL ([\d.]+) ->", out), number(r"exact NLL [\d.]+ -> ([\d.]+)", out)
    assert after < before - 2
    assert abs(number(r"difference ([+-][\d.]+)", out)) < 0.1  # measured +0.025, AIS standard error 0.020


def test_open_run(tmp_path):
    out = run("open_run.py", "--out", str(tmp_path / "interp.png"), cwd=str(tmp_path))
    assert "decoded 10 codes from a 1 to a 7" in out and (tmp_path / "interp.png").stat().st_size > 0


def test_many_models():
    out = run("many_models.py")
    assert "12 autoencoders in one program" in out and out.count("+-") == 3 and "best learning rate" in out


def test_recommender(data_dir):
    out = run("recommender.py", env={"JAXAE_DATA_DIR": data_dir})
    assert number(r"test RMSE ([\d.]+)", out) < 1.0 and out.count("\n") == 12


def test_dbn():
    out = run("dbn.py")
    pretrained, random = number(r"test error ([\d.]+)% from the DBN", out), number(r"([\d.]+)% from random", out)
    assert pretrained < random and pretrained < 15


def test_nnx_vae():
    out = run("nnx_vae.py")
    assert 80 < number(r"IS-NLL \(k=200, 500 test digits\) ([\d.]+)", out) < 300
    assert "codes of shape (2, 20)" in out and "read back bitwise equal: True" in out
