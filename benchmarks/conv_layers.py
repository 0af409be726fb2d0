"""The chapter's conv AE layer by layer: forward and forward+backward time of each layer for every
transposed-convolution formulation, and of max-pooling as jaxae computes it (strided slices) against
Flax's `nn.max_pool` (XLA's reduce-window, whose gradient is select-and-scatter). JSON lines, then a
Markdown table:

    python -m benchmarks.conv_layers [--batch-size 128] [--repeats 200]

This is how `jaxae.nn.conv.AUTO_TRANSPOSED` is chosen for a backend: run it there.
"""
from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.nn.conv import TRANSPOSED, ConvStack, parse_spec

# (name, spec, input (h, w, c)) of the chapter's layers, in order
LAYERS = (("conv1", "c16k3s3p1", (28, 28, 1)), ("pool1", "m2s2", (10, 10, 16)), ("conv2", "c8k3s2p1", (5, 5, 16)),
          ("pool2", "m2s1", (3, 3, 8)), ("convT1", "t16k3s2", (2, 2, 8)), ("convT2", "t8k5s3p1", (5, 5, 16)),
          ("convT3", "t1k2s2p1", (15, 15, 8)))


def _ms(fn, args, repeats: int) -> float:
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(3):  # best of three rounds of `repeats` calls
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / repeats * 1e3)
    return best


def _variants(name: str, spec: str):
    """(label, apply(params, x), init module) for each way to compute the layer."""
    if spec.startswith("t"):
        for method in TRANSPOSED[1:]:
            stack = ConvStack(parse_spec(spec), transposed=method, final_activation=None)
            yield method, stack
    elif spec.startswith("m"):
        yield "slices (jaxae)", ConvStack(parse_spec(spec), final_activation=None)
        layer = parse_spec(spec)[0]
        yield "reduce-window (flax)", _FlaxPool(layer.kernel, layer.stride)
    else:
        yield "flax Conv", ConvStack(parse_spec(spec), final_activation=None)


class _FlaxPool(nn.Module):
    window: int
    stride: int

    @nn.compact
    def __call__(self, x):
        return nn.max_pool(x, (self.window,) * 2, (self.stride,) * 2)


def measure(batch_size: int = 128, repeats: int = 200) -> list[dict]:
    rows = []
    for name, spec, shape in LAYERS:
        x = jax.random.normal(jax.random.PRNGKey(1), (batch_size, *shape))
        for label, module in _variants(name, spec):
            params = module.init(jax.random.PRNGKey(0), x)

            def loss(p, x, module=module):
                return jnp.sum(module.apply(p, x) ** 2)

            forward = _ms(lambda p, x, module=module: module.apply(p, x), (params, x), repeats)
            both = _ms(jax.grad(loss, argnums=(0, 1)), (params, x), repeats)
            row = {"bench": "conv-layers", "layer": name, "spec": spec, "impl": label, "batch": batch_size,
                   "forward_ms": forward, "forward_backward_ms": both, "backend": jax.default_backend()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| layer | spec | computed as | forward ms | forward + backward ms |", "|---|---|---|---:|---:|"]
    lines += [f"| {r['layer']} | {r['spec']} | {r['impl']} | {r['forward_ms']:.3f} | {r['forward_backward_ms']:.3f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=200, help="calls per timing round (best of 3 rounds)")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1:
        parser.error("--batch-size and --repeats must be at least 1")
    rows = measure(args.batch_size, args.repeats)
    print()
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
