"""What a step costs: XLA's FLOP count against a hand count, FLOP/s in the records, and --profile's trace."""
import json

import jax
import numpy as np
import pytest

from jaxae.errors import ConfigError
from jaxae.tasks import ae, rbm
from jaxae.train import TrainConfig, fit, init_state
from jaxae.train.cost import step_flops
from tests.conftest import read_trace, tree_equal


def product_flops(sizes) -> int:
    """Hand count of an MLP step's matrix products per example, 2 FLOPs per multiply-add: the forward
    product of every layer, its weight gradient, and its input gradient (all but the first layer)."""
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (sum(macs) + sum(macs) + sum(macs[1:]))


def test_ae_step_flops_match_the_hand_count():
    config = ae.AEConfig()  # the chapter's 784-128-64-12-3 encoder and its mirror
    task = ae.task(config)
    batch = np.zeros((128, 28, 28), np.uint8)
    flops = step_flops(task, init_state(task, 0, batch), batch)
    sizes = [784, *config.hidden, config.latent, *reversed(config.hidden), 784]
    hand = product_flops(sizes)
    assert hand == 2 * (3 * 218_696 - 100_352)  # 784*128+128*64+64*12+12*3, twice, as the chapter's AE
    assert flops / 128 == pytest.approx(hand, rel=0.05)


def test_rbm_cd1_step_flops_match_the_hand_count():
    task = rbm.task(rbm.RBMConfig(n_hidden=500, k=1))
    batch = np.zeros((100, 28, 28), np.uint8)
    flops = step_flops(task, init_state(task, 0, batch), batch)
    # CD-1: v0 W, h0 W^T, v1 W, and the two statistics v0^T h0 and v1^T h1: five 784 x 500 products
    hand = 5 * 2 * 784 * 500
    assert flops / 100 == pytest.approx(hand, rel=0.05)
    # CD-k adds two products per extra Gibbs step (inside a lax.scan, which XLA's cost analysis counts once)
    task10 = rbm.task(rbm.RBMConfig(n_hidden=500, k=10))
    flops10 = step_flops(task10, init_state(task10, 0, batch), batch)
    assert flops10 / 100 == pytest.approx(hand + 9 * 2 * 2 * 784 * 500, rel=0.05)


def small_config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 64, "progress": False, "eval_batch_size": 100, **kw})


SMALL_AE = ae.AEConfig(hidden=(32, 16), latent=3, learning_rate=1e-3)


def test_flop_rate_is_in_every_record_and_the_count_in_config_json(small, tmp_path):
    task = ae.task(SMALL_AE)
    result = fit(task, small, small_config(), str(tmp_path / "run"))
    with open(tmp_path / "run" / "config.json") as f:
        cost = json.load(f)["cost"]
    batch = small.train_images[:64]
    assert cost["flops_per_example"] == step_flops(task, init_state(task, 0, batch), batch) / 64
    for record in result.history:
        assert record["flop_per_s"] == pytest.approx(cost["flops_per_example"] * record["samples_per_s"])
    # resuming with the count recorded is not a change of configuration
    fit(task, small, small_config(epochs=3), str(tmp_path / "run"), resume=True)


@pytest.mark.parametrize("mode", ["scan", "stream"])
def test_profile_writes_a_trace_of_the_step_and_changes_nothing(small, tmp_path, mode):
    task = ae.task(SMALL_AE)
    plain = fit(task, small, small_config(mode=mode))
    profiled = fit(task, small, small_config(mode=mode, profile=3), str(tmp_path / "run"))
    assert tree_equal(plain.state.params, profiled.state.params)
    events = read_trace(tmp_path / "run")
    names = [e.get("name", "") for e in events]
    assert any("train_step_at" in name for name in names), "the trace should name the step function"
    steps = sorted(int(e["args"]["step_num"]) for e in events if e.get("name") == "train_step")
    assert steps == [0, 1, 2]


def test_profile_needs_a_run_folder_and_a_count(small):
    with pytest.raises(ConfigError, match="workdir"):
        fit(ae.task(SMALL_AE), small, small_config(profile=2))
    with pytest.raises(ConfigError, match="profile"):
        small_config(profile=-1)


def test_profile_of_several_models(small, tmp_path):
    result = fit(ae.task(SMALL_AE), small, small_config(epochs=1, seeds=2, profile=2), str(tmp_path / "run"))
    assert jax.tree.leaves(result.state.params)[0].shape[0] == 2
    assert any(e.get("name") == "train_step" for e in read_trace(tmp_path / "run"))
