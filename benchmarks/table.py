"""Markdown tables from the JSON lines the benchmarks print (one file or stdin), e.g. after gpu.sh:

    python -m benchmarks.table OUT/gpu.jsonl

Sections: the machine (gpu.sh's header line), throughput (benchmarks.models, with each jaxae row's ratio to the hand-written floor, to
PyTorch eager and to torch.compile, read from the ratio lines), N vmapped models (benchmarks.scaling),
AIS (benchmarks.ais) and the IS-NLL (benchmarks.likelihood). Lines that are not JSON are skipped.
"""
from __future__ import annotations

import argparse
import json
import sys

RATIOS = (("vs_floor", "jaxae / hand-written"), ("vs_torch_eager", "jaxae / torch eager"),
          ("vs_torch_compile", "jaxae / torch.compile"))


def _ratio_key(denominator: str) -> str | None:
    if denominator == "jax-floor":
        return "vs_floor"
    if denominator == "torch-eager":
        return "vs_torch_eager"
    if denominator.startswith("torch-compile"):
        return "vs_torch_compile"
    return None


def throughput(rows: list[dict]) -> str:
    """The table of benchmarks.models rows (each may carry vs_floor, vs_torch_eager, vs_torch_compile);
    jaxae's default mode for the model on that backend in bold."""
    head = ("| model | impl | batch | samples/s | epoch s | compile s | GFLOP/s (of matmul) | "
            + " | ".join(t for _, t in RATIOS) + " |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(RATIOS)]
    for r in rows:
        compile_s = f"{r['compile_s']:.2f}" if "compile_s" in r else "-"
        impl = f"**{r['impl']}**" if r.get("default") else r["impl"]
        ratios = " | ".join(f"{r[key]:.2f}×" if key in r else "" for key, _ in RATIOS)
        flops = f"{r['flop_per_s'] / 1e9:.1f} ({r['matmul_fraction']:.0%})" if "matmul_fraction" in r else "-"
        lines.append(f"| {r['model']} | {impl} | {r['batch']} | {r['samples_per_s']:,.0f} | {r['epoch_s']:.3f} | "
                     f"{compile_s} | {flops} | {ratios} |")
    return "\n".join(lines)


def host(r: dict) -> str:
    """One line of the machine facts every row carries (benchmarks.common.machine) and its matmul rate."""
    flags = ", ".join(r.get("cpu_flags") or []) or "none of those listed"
    rate = (f"; float32 matmul {r['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s (n = {r['matmul_n']}, timed in this run)"
            if "matmul_flop_per_s" in r else "")
    env = ", ".join(f"{k}={v}" for k, v in (r.get("env") or {}).items()) or "no thread or XLA settings"
    return (f"Machine: {r.get('cpu_model')} ({r.get('cpus_usable')} of {r.get('cpus')} CPUs usable, quota "
            f"{r.get('cpu_quota') or 'none'}; {flags}); {r.get('device')} ({r.get('backend')}), jax {r.get('jax')}; "
            f"{env}{rate}")


def parse(lines) -> dict[str, list[dict]]:
    """JSON lines -> {"machine", "throughput", "seeds", "ais", "likelihood", "ratios"} lists of records, ratios
    folded into the throughput rows they belong to."""
    records = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    out: dict[str, list[dict]] = {"machine": [], "throughput": [], "seeds": [], "ais": [], "likelihood": [],
                                  "ratios": []}
    by_key = {}
    for r in records:
        if "machine" in r and "jax" in r:
            out["machine"].append(r)
        elif "ratio" in r:
            out["ratios"].append(r)
        elif r.get("bench") == "seeds":
            out["seeds"].append(r)
        elif r.get("model", "").startswith("ais-"):
            out["ais"].append(r)
        elif r.get("model", "").startswith("is-nll"):
            out["likelihood"].append(r)
        elif "impl" in r and "bench" not in r:
            out["throughput"].append(r)
            by_key[(r["model"], r["batch"], r["impl"])] = r
    for r in out["ratios"]:
        numerator, _, denominator = r["ratio"].partition("/")
        key = _ratio_key(denominator)
        row = by_key.get((r.get("model"), r.get("batch"), numerator))
        if key and row is not None:
            row[key] = r["value"]
    return out


def machine(r: dict) -> str:
    """One line naming the card (and driver), the backend and the versions of gpu.sh's header record."""
    torch = f", torch {r['torch']} (CUDA {r.get('torch_cuda')}, {r.get('torch_device')})" if r.get("torch") else ""
    card = r.get("gpu") or r.get("machine")
    dry = " — DRY RUN (toy sizes, timings meaningless)" if r.get("dry_run") else ""
    return (f"Machine: {card} ({r.get('backend')}); jax {r.get('jax')}, jaxlib {r.get('jaxlib')}, flax {r.get('flax')}, "
            f"optax {r.get('optax')}{torch}, python {r.get('python')}{dry}")


def markdown(parsed: dict[str, list[dict]]) -> str:
    parts = [machine(r) for r in parsed.get("machine", [])]
    if not parts and any("cpu_model" in r for r in parsed["throughput"]):
        parts.append(host(next(r for r in parsed["throughput"] if "cpu_model" in r)))
    if parsed["throughput"]:
        parts.append(throughput(parsed["throughput"]))
    if parsed["seeds"]:
        lines = ["| model | impl | batch | samples/s (all models) | epoch s |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['impl']} | {r['batch']} | {r['samples_per_s']:,.0f} | {r['epoch_s']:.3f} |"
                  for r in parsed["seeds"]]
        lines += [f"| {r['model']} | {r['ratio']} | | **{r['value']:.2f}×** | |" for r in parsed["ratios"]
                  if r.get("bench") == "seeds"]
        parts.append("\n".join(lines))
    if parsed["ais"]:
        lines = ["| AIS | chains | temperatures | seconds | compile s | log Z ± s.e. |", "|---|---:|---:|---:|---:|---|"]
        lines += [f"| {r['model']} | {r['chains']} | {r['temperatures']} | {r['seconds']:.3f} | {r['compile_s']:.2f} | "
                  f"{r['log_z']:.2f} ± {r['log_z_stderr']:.2f} |" for r in parsed["ais"]]
        parts.append("\n".join(lines))
    if parsed["likelihood"]:
        lines = ["| IS-NLL (`jaxae eval`) | k | test digits | seconds (compile included) | IS-NLL |",
                 "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['k']} | {r['n_test']} | {r['seconds']:.1f} | {r['is_nll']:.2f} |"
                  for r in parsed["likelihood"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="-", help="a file of JSON lines (default: stdin)")
    args = parser.parse_args(argv)
    if args.path == "-":
        text = markdown(parse(sys.stdin))
    else:
        try:
            with open(args.path) as f:
                text = markdown(parse(f))
        except OSError as e:
            parser.error(f"cannot read {args.path}: {e.strerror}")
    if not text:
        raise SystemExit(f"no benchmark records in {args.path}")
    print(text)
    return text


if __name__ == "__main__":
    main()
