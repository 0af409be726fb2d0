"""Run by tests/test_rand.py with 8 forced CPU devices: for each jaxae.rand draw under pmap, whether the
compiled program slices this device's rows from a whole-batch draw computed on its own (the
property that makes pmap's draws equal one device's on every machine), and whether the values are
equal here. Prints JSON."""
import json
import re
import sys

import jax
import numpy as np

from jaxae import rand

# float-valued instructions a fusion may hold besides the slice without computing the draw itself
_MOVES = {"parameter", "dynamic-slice", "slice", "bitcast", "reshape", "copy", "transpose", "constant", "broadcast"}


def float_ops_beside_slice(hlo: str) -> list[str]:
    """Opcodes of the float instructions that share a fusion with a dynamic-slice (empty: the slice only moves)."""
    found = []
    for block in hlo.split("\n\n"):
        if "dynamic-slice(" not in block or "ENTRY" in block:
            continue
        for line in block.splitlines():
            match = re.match(r"\s*(?:ROOT )?%\S+ = (?:f16|bf16|f32|f64)\[[^\]]*\]\S* ([a-z-]+)\(", line)
            if match and match.group(1) not in _MOVES:
                found.append(match.group(1))
    return found


def main():
    assert jax.device_count() == 8, jax.devices()
    key, p = jax.random.PRNGKey(3), jax.random.uniform(jax.random.PRNGKey(4), (64, 10))
    draws = {"normal": lambda x: rand.normal(key, x.shape), "bernoulli": lambda x: rand.bernoulli(key, x),
             "normal axis 1": lambda x: rand.normal(key, (3,) + x.shape, axis=1),
             "uniform": lambda x: rand.uniform(key, x.shape),
             "categorical": lambda x: rand.categorical(key, x)}
    out = {}
    for name, draw in draws.items():
        def split(x, draw=draw):
            with rand.rows_split_over("rows"):
                return draw(x)

        mapped = jax.pmap(split, axis_name="rows")
        hlo = mapped.lower(p.reshape(8, 8, 10)).compile().as_text()
        per_device, whole = np.asarray(mapped(p.reshape(8, 8, 10))), np.asarray(draw(p))
        if name == "normal axis 1":
            per_device = np.moveaxis(per_device, 0, 1)
        out[name] = {"fused_into_slice": float_ops_beside_slice(hlo),
                     "equal": bool(np.array_equal(per_device.reshape(whole.shape), whole))}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
