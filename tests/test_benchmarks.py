"""The benchmark scripts run and fold their numbers into tables (no timing is asserted anywhere)."""
import json

import numpy as np
import pytest

from benchmarks import ab, floor, models, table
from jaxae.errors import ConfigError


@pytest.fixture(scope="module")
def digits():
    import jaxae

    return jaxae.data.load("mnist-mini", download=False).train_images[:1024]


@pytest.mark.parametrize("model", sorted(floor.FLOORS))
def test_every_floor_trains(model, digits):
    """The hand-written loops do the work they are timed for: the second epoch's mean loss is below the first's."""
    result = floor.throughput(model, digits, 64, 1)
    assert result["samples_per_s"] > 0 and np.isfinite(result["last_loss"])
    assert result["last_loss"] < result["first_loss"]


def test_models_rows_carry_the_ratio_to_the_floor(capsys, monkeypatch):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)  # the bundled mnist-mini: the arithmetic, not the speed
    rows = models.main(["--model", "ae", "--epochs", "1", "--rounds", "3", "--no-torch", "--modes", "scan"])
    jaxae_row, floor_row = rows
    assert floor_row["impl"] == "jax-floor" and "default" in jaxae_row
    # the default mode (scan here) and the floor: epochs interleaved, the floor's loss still reported
    assert jaxae_row["default"] and jaxae_row["timing"] == floor_row["timing"] == "interleaved"
    assert np.isfinite(floor_row["last_loss"]) and jaxae_row["compile_s"] > 0
    # the ratio is the median over rounds of the two epochs of a round; samples/s of each side's median epoch
    assert len(jaxae_row["epochs_s"]) == len(floor_row["epochs_s"]) == 3
    per_round = [f / j for f, j in zip(floor_row["epochs_s"], jaxae_row["epochs_s"])]
    assert jaxae_row["vs_floor_rounds"] == pytest.approx(per_round)
    assert jaxae_row["vs_floor"] == pytest.approx(sorted(per_round)[1])
    for row in rows:
        assert row["samples_per_s"] == pytest.approx(row["n"] // 128 * 128 / sorted(row["epochs_s"])[1])
    for row in rows:  # the machine's facts and the fraction of its matmul rate, timed in the same run
        assert row["cpu_model"] and row["cpus_usable"] >= 1 and isinstance(row["cpu_flags"], list)
        assert row["flops_per_example"] == 2 * (3 * 218_696 - 100_352)  # the chapter AE's products
        assert row["flop_per_s"] == pytest.approx(row["flops_per_example"] * row["samples_per_s"])
        assert 0 < row["matmul_fraction"] == pytest.approx(row["flop_per_s"] / row["matmul_flop_per_s"])
    parsed = table.parse(capsys.readouterr().out.splitlines())
    assert parsed["throughput"][0]["vs_floor"] == pytest.approx(jaxae_row["vs_floor"])
    assert "jaxae / hand-written" in table.markdown(parsed) and "Machine: " in table.markdown(parsed)
    step_row, block_floor = models.main(["--model", "ae", "--epochs", "1", "--no-torch", "--modes", "step"])
    assert not step_row["default"] and "timing" not in step_row and "timing" not in block_floor
    assert step_row["vs_floor"] == pytest.approx(step_row["samples_per_s"] / block_floor["samples_per_s"])
    with pytest.raises(SystemExit) as refused:
        models.main(["--model", "ae", "--rounds", "0"])
    assert refused.value.code == 2 and "--rounds must be at least 1" in capsys.readouterr().err


def test_ab_interleaves_jaxae_and_its_floor_and_prints_their_ratio(capsys, monkeypatch):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)  # the bundled mnist-mini
    row = ab.main(["--model", "ae", "--rounds", "2"])
    assert row["rounds"] == 2 and row["cpu_model"]
    assert row["vs_floor_best"] == pytest.approx(row["jaxae_best"] / row["floor_best"])
    assert row["vs_floor_median"] == pytest.approx(row["jaxae_median"] / row["floor_median"])
    assert row["jaxae_best"] >= row["jaxae_median"] > 0 and row["floor_best"] >= row["floor_median"] > 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["vs_floor_best"] == pytest.approx(row["vs_floor_best"])
    with pytest.raises(SystemExit) as refused:
        ab.main(["--model", "ae", "--rounds", "0"])
    assert refused.value.code == 2 and "--rounds must be at least 1" in capsys.readouterr().err


def test_cd_keys_mirrors_jaxae_cd_and_times_every_variant(capsys):
    """The `floor` variant draws what jaxae's CD-1 draws (both take the two draws' keys from one
    `split(key, 3)` since 2026-12-07), `jaxae-keys` does not, and every variant gets its ratio to the floor."""
    import jax
    import jax.numpy as jnp

    from benchmarks import cd_keys
    from jaxae import rbm

    key = jax.random.PRNGKey(5)
    W = 0.1 * jax.random.normal(jax.random.PRNGKey(6), (784, 500))
    v = (jax.random.uniform(jax.random.PRNGKey(7), (100, 784)) < 0.3).astype(jnp.float32)
    estimator = rbm.cd(1)
    params = rbm.init(key, 784, 500).replace(W=W)
    grads, _, _ = estimator.estimate(key, params, v, estimator.init(key, params))
    _, (dW, db, dc) = cd_keys.VARIANTS["floor"]((W, jnp.zeros(784), jnp.zeros(500)), v, key)
    np.testing.assert_allclose(dW, grads.W, atol=1e-6)
    np.testing.assert_allclose(db, grads.b_vis, atol=1e-6)
    np.testing.assert_allclose(dc, grads.b_hid, atol=1e-6)
    _, (dW_chain, _, _) = cd_keys.VARIANTS["jaxae-keys"]((W, jnp.zeros(784), jnp.zeros(500)), v, key)
    assert np.abs(np.asarray(dW_chain) - np.asarray(grads.W)).max() > 1e-3  # other random numbers

    rows = cd_keys.main(["--rounds", "1", "--examples", "200"])
    assert [r["variant"] for r in rows] == list(cd_keys.VARIANTS) and rows[0]["variant"] == "floor"
    for row in rows:
        assert row["n"] == 200 and row["samples_per_s_best"] >= row["samples_per_s_median"] > 0
        assert row["vs_floor_best"] == pytest.approx(row["samples_per_s_best"] / rows[0]["samples_per_s_best"])
    with pytest.raises(SystemExit) as refused:
        cd_keys.main(["--examples", "50"])
    assert refused.value.code == 2 and "--examples must be 0 (all) or at least one batch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        cd_keys.main(["--examples", "100000000"])
    assert refused.value.code == 2 and "is more than the" in capsys.readouterr().err


def test_transposed_formulations_are_for_the_conv_ae_and_checked():
    with pytest.raises(SystemExit):
        models.main(["--model", "ae", "--transposed", "subpixel", "--no-torch"])
    with pytest.raises(ConfigError, match="one of auto, dilated"):
        models.main(["--model", "conv-ae", "--transposed", "winograd", "--no-torch"])


def test_table_reads_every_section():
    lines = [
        "# a comment line",
        json.dumps({"machine": "NVIDIA H200", "backend": "gpu", "gpu": "NVIDIA H200, 580.1, 143771 MiB",
                    "dry_run": False, "jax": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12", "optax": "0.2",
                    "python": "3.12", "torch": "2.13.0", "torch_cuda": "13.0", "torch_device": "NVIDIA H200"}),
        json.dumps({"model": "ae", "batch": 128, "impl": "jaxae-scan", "samples_per_s": 100.0, "epoch_s": 1.0,
                    "default": True}),
        json.dumps({"model": "ae", "batch": 128, "impl": "torch-eager", "samples_per_s": 50.0, "epoch_s": 2.0}),
        json.dumps({"model": "ae", "batch": 128, "ratio": "jaxae-scan/torch-eager", "value": 2.0}),
        json.dumps({"bench": "seeds", "model": "vae", "impl": "vmap of 16", "batch": 128, "samples_per_s": 9.0,
                    "epoch_s": 3.0}),
        json.dumps({"bench": "seeds", "model": "vae", "ratio": "vmap of 16 vs 16 sequential", "value": 4.5}),
        json.dumps({"model": "ais-784-500", "chains": 100, "temperatures": 14500, "seconds": 0.3, "compile_s": 1.0,
                    "log_z": 400.0, "log_z_stderr": 0.1}),
        json.dumps({"model": "is-nll-vae", "k": 5000, "n_test": 10000, "seconds": 12.0, "is_nll": 90.0}),
    ]
    text = table.markdown(table.parse(lines))
    assert "| ae | **jaxae-scan** | 128 | 100 | 1.000 | - | - |  | 2.00× |  |" in text
    assert text.startswith("Machine: NVIDIA H200, 580.1, 143771 MiB (gpu); jax 0.10.2") and "torch 2.13.0 (CUDA 13.0" in text
    assert "**4.50×**" in text and "| ais-784-500 | 100 | 14500 | 0.300 |" in text and "| 5000 | 10000 | 12.0 |" in text


def test_conv_layers_times_every_formulation_of_every_layer(capsys):
    from benchmarks import conv_layers
    from jaxae.nn.conv import TRANSPOSED

    rows = conv_layers.main(["--batch-size", "2", "--repeats", "1"])
    assert {r["layer"] for r in rows} == {name for name, _, _ in conv_layers.LAYERS}
    for layer in ("convT1", "convT2", "convT3"):
        assert sorted(r["impl"] for r in rows if r["layer"] == layer) == sorted(TRANSPOSED[1:])
    assert all(r["forward_backward_ms"] > 0 for r in rows)
    assert "| convT2 | t8k5s3p1 | matmul |" in capsys.readouterr().out


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    from benchmarks import likelihood

    with pytest.raises(SystemExit) as e:
        table.main([str(tmp_path / "missing.jsonl")])
    assert e.value.code == 2 and "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        likelihood.main(["--k", "0"])
    assert e.value.code == 2 and "--k, --epochs and --limit must be at least 1" in capsys.readouterr().err


def test_refit_reports_the_programs_a_second_fit_reused():
    from benchmarks import refit

    (row,) = refit.main(["--models", "ae", "--epochs", "1", "--examples", "128"])
    programs = row["first_programs_compiled"] + row["first_programs_reused"]  # (an earlier test may have compiled some)
    assert programs >= 2 and row["second_programs_compiled"] == 0 and row["second_programs_reused"] == programs
    assert row["first_s"] > 0 and row["second_s"] > 0 and row["cpu_model"]


def test_sae_dead_counts_latents_that_never_fire(capsys):
    """benchmarks.sae_dead: one line per AuxK weight; test_dead is the fraction of latents silent on every
    test image, checked against a direct count (an SAE whose every latent fires has 0, one with a dead
    encoder row has 1 / width)."""
    import jax.numpy as jnp

    from benchmarks import sae_dead
    from jaxae import sae
    from jaxae.tasks.sae import SAEConfig

    sae_dead.main(["--data", "mnist-mini", "--k", "2", "--width", "32", "--epochs", "1", "--aux", "0,1",
                   "--dead-window", "5"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["aux"] for line in lines] == [0.0, 1.0]
    for line in lines:
        assert 0.0 <= line["test_dead"] <= 1.0 and 0.0 <= line["train_dead"] <= 1.0 and line["cpus"] >= 1
    config = SAEConfig(arch="topk", k=1, width=3)
    # latent 0 reads pixel 0, latent 1 pixel 1, latent 2 nothing (weights -1): image i lights pixel i
    w_enc = jnp.zeros((4, 3)).at[0, 0].set(1.0).at[1, 1].set(1.0).at[:, 2].set(-1.0)
    params = sae.SAEParams(w_enc, jnp.zeros(3), jnp.eye(3, 4), jnp.zeros(4), jnp.zeros(3))
    images = np.zeros((2, 2, 2), np.uint8)
    images[0, 0, 0], images[1, 0, 1] = 255, 255
    assert sae_dead.never_fired(config, params, images) == pytest.approx(1 / 3)
    for argv, message in ((["--aux", "one"], "--aux takes numbers"), (["--data", "nonsense"], "unknown dataset"),
                          (["--data", "mnist-mini", "--batch-size", "0"], "batch_size must be at least 1")):
        with pytest.raises(SystemExit):
            sae_dead.main(argv)
        assert message in capsys.readouterr().err


def test_compile_times_each_flag_set_in_a_fresh_process(capsys, monkeypatch, tmp_path):
    """One row per flag set: compile seconds, steady speed and a parameter digest; a flag XLA does not know
    gives a row with the error instead of numbers. The children compile for real: a persistent compilation
    cache set in the environment is not used (nothing is written to it)."""
    from benchmarks import compile as compile_bench

    cache = tmp_path / "xla-cache"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    known, unknown = compile_bench.main(["--models", "ae", "--rounds", "1", "--", "", "--xla_jaxae_no_such_flag=1"])
    assert known["compile_s"] >= known["train_eval_compile_s"] > 0 and known["fit_s"] > known["compile_s"]
    assert known["samples_per_s"]["ae"] > 0 and len(known["params_sha256"]["ae"]) == 16 and "error" not in known
    assert unknown["error"] and "samples_per_s" not in unknown and unknown["XLA_FLAGS"].endswith("--xla_jaxae_no_such_flag=1")
    assert known["cpus"] >= 1  # the machine's facts on every row
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(SystemExit) as refused:
        compile_bench.main(["--models", "ae,nope"])
    assert refused.value.code == 2 and "--models 'ae,nope': give a comma list from" in capsys.readouterr().err


def test_sae_hierarchy_scores_split_the_latents_by_their_matched_feature():
    """benchmarks.sae on a set with a hierarchy: F1 and recall of the latents matched to parents (the
    ones absorption hurts), F1 of those matched to children; worked by hand on 4 latents."""
    from benchmarks.sae import hierarchy_scores
    from jaxae import sae

    parent = np.array([-1, -1, 0, 0, 1])  # features 0 and 1 are parents, 2-4 children
    counts = sae.metrics.Confusion(np.array([8.0, 5, 4, 1]), np.array([0.0, 5, 0, 1]), np.array([2.0, 0, 4, 1]))
    scores = hierarchy_scores(parent, np.array([0, 2, 1, 4]), counts)
    assert scores["parent_latents"] == 2 and scores["child_latents"] == 2
    assert scores["parent_recall"] == pytest.approx((0.8 + 0.5) / 2)
    assert scores["parent_f1"] == pytest.approx((16 / 18 + 2 / 3) / 2)
    assert scores["child_f1"] == pytest.approx((2 / 3 + 0.5) / 2)
