"""jaxae.train.programs: a second fit of the same program reuses the first's executable, bitwise; programs
that differ only in their result names, or that call back to Python, never share one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.tasks import MODELS
from jaxae.train import programs
from tests.conftest import tree_equal


@pytest.fixture
def fresh(monkeypatch):
    programs.clear()
    yield
    programs.clear()


@pytest.mark.parametrize("mode", ["scan", "step"])
def test_a_second_fit_of_a_rebuilt_task_reuses_every_program_and_trains_the_same_model(small, fresh, mode):
    entry = MODELS["rbm"]
    options = {"n_hidden": 16, "pcd": True, "n_chains": 32}
    config = jaxae.TrainConfig(epochs=2, batch_size=64, mode=mode, progress=False)
    first = jaxae.fit(entry.task(entry.config(**options)), small, config)
    compiled = programs.info()
    assert compiled.hits == 0 and compiled.misses >= 2  # the training program and the evaluation
    second = jaxae.fit(entry.task(entry.config(**options)), small, config)  # a new task object: new closures
    assert programs.info() == programs.CacheInfo(compiled.misses, compiled.misses, compiled.size)
    assert tree_equal(second.state, first.state)
    assert [r["test_recon_error"] for r in second.history] == [r["test_recon_error"] for r in first.history]
    # another batch size is another program
    jaxae.fit(entry.task(entry.config(**options)), small, jaxae.TrainConfig(epochs=1, batch_size=32, mode=mode,
                                                                            progress=False))
    assert programs.info().misses > compiled.misses


def _program(name: str):
    def f(x):
        return {name: x * 2.0}

    return jax.jit(f)


def test_the_same_math_with_other_result_names_is_another_program(fresh):
    x = jnp.ones(3)
    a = _program("a").lower(x)
    b = _program("b").lower(x)
    assert set(programs.compile(a, (0,))(x)) == {"a"}
    assert set(programs.compile(b, (0,))(x)) == {"b"}
    assert programs.info() == programs.CacheInfo(0, 2, 2)
    programs.compile(_program("a").lower(x), (0,))
    assert programs.info().hits == 1


def test_an_argument_the_program_never_reads_still_decides_the_executable(fresh):
    # XLA drops unread arguments from the text, but the executable checks every argument's shape: an
    # evaluation of a PCD RBM with 32 chains and one with 64 (the chains unread) are two programs
    def evaluate(params, chains):
        return params * 2.0

    params = jnp.ones(3)
    for n in (32, 64, 64):
        program = programs.compile(jax.jit(evaluate).lower(params, jnp.zeros((n, 3))), (0,))
        np.testing.assert_array_equal(program(params, jnp.zeros((n, 3))), 2.0)
    assert programs.info() == programs.CacheInfo(1, 2, 2)


def test_programs_with_host_callbacks_are_compiled_each_time(fresh):
    seen = []

    def with_callback(tag):
        def f(x):
            jax.debug.callback(lambda v: seen.append(tag), x)
            return x + 1.0

        return jax.jit(f)

    x = jnp.ones(2)
    first = programs.compile(with_callback("first").lower(x), (0,))
    second = programs.compile(with_callback("second").lower(x), (0,))
    jax.block_until_ready((first(x), second(x)))
    jax.effects_barrier()
    assert seen == ["first", "second"] and programs.info() == programs.CacheInfo(0, 0, 0)


def test_the_oldest_program_leaves_first(fresh, monkeypatch):
    monkeypatch.setattr(programs, "CAPACITY", 2)
    x = jnp.ones(3)
    for name in ("a", "b", "c"):
        programs.compile(_program(name).lower(x), (0,))
    assert programs.info().size == 2
    programs.compile(_program("a").lower(x), (0,))  # "a" was dropped: compiled again
    programs.compile(_program("c").lower(x), (0,))
    assert programs.info() == programs.CacheInfo(1, 4, 2)


def test_closed_over_arrays_of_other_values_are_other_programs(fresh):
    """Since jax 0.12.1 such arrays are passed beside the text, so equal text alone is not the same program."""
    def adding(value):
        table = jnp.full((4096,), value)
        return jax.jit(lambda x: x + table)

    x = jnp.ones(4096)
    assert float(programs.compile(adding(1.0).lower(x), (0,))(x)[0]) == 2.0
    assert float(programs.compile(adding(2.0).lower(x), (0,))(x)[0]) == 3.0
    assert float(programs.compile(adding(2.0).lower(x), (0,))(x)[0]) == 3.0
    assert programs.info() == programs.CacheInfo(1, 2, 2)


def test_a_program_with_big_constants_is_not_kept(fresh, monkeypatch):
    table = jnp.arange(4096.0)  # closed over: in the text (jax 0.10) or passed beside it (0.12.1)
    lowered = jax.jit(lambda x: x + table).lower(jnp.ones(4096))
    size = len(lowered.as_text()) + sum(np.asarray(c).nbytes for c in lowered._lowering.const_args)
    monkeypatch.setattr(programs, "MAX_BYTES", size - 1)
    programs.compile(lowered, (0,))
    assert programs.info() == programs.CacheInfo(0, 0, 0)
    monkeypatch.setattr(programs, "MAX_BYTES", size)
    programs.compile(lowered, (0,))
    assert programs.info() == programs.CacheInfo(0, 1, 1)
