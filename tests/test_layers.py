"""The package keeps its four layers: no import circle, no import up a layer, no function-local import of
a jaxae module below the apps layer, and `import jaxae.rbm` stays light."""
import ast
import os
import subprocess
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jaxae")

# layer of each module, by the longest matching prefix; utilities (0) may be used by every layer
LAYERS = {
    "jaxae.errors": 0, "jaxae.rand": 0, "jaxae.types": 0, "jaxae.data": 0, "jaxae.viz": 0, "jaxae.weights": 0,
    "jaxae.rbm": 1, "jaxae.vae": 1, "jaxae.cvae": 1, "jaxae.autoencoder": 1, "jaxae.estimators": 1, "jaxae.optim": 1,
    "jaxae.likelihood": 1, "jaxae.pca": 1, "jaxae.recsys": 1, "jaxae.nn": 1, "jaxae.nnx_bridge": 1, "jaxae.sae": 1,
    "jaxae.train": 2,
    "jaxae.tasks": 3,
    "jaxae.apps": 4, "jaxae.__main__": 4,
}


def modules(root: str) -> dict[str, str]:
    """Dotted module name -> file, for every .py file under the package folder `root`."""
    base, found = os.path.dirname(root), {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def imports(mods: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(importer, imported module, inside a function) for every import of a package module."""
    package = next(iter(mods)).split(".")[0]

    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = []
    for module, path in mods.items():
        tree = ast.parse(open(path).read())
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        local = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            targets = {resolve(n) for n in names if n.split(".")[0] == package} - {"", module}
            # importing from one's own package's __init__ is not an edge back to it
            for target in sorted(t for t in targets if not module.startswith(t + ".")):
                edges.append((module, target, id(node) in local))
    return edges


def layer(module: str, layers: dict[str, int]) -> int | None:
    matches = [prefix for prefix in layers if module == prefix or module.startswith(prefix + ".")]
    return layers[max(matches, key=len)] if matches else None


def problems(root: str, layers: dict[str, int], apps_layer: int = 4) -> list[str]:
    """Every upward import, function-local import below the apps layer, and import circle."""
    mods = modules(root)
    edges = imports(mods)
    found = []
    for a, b, local in edges:
        la, lb = layer(a, layers), layer(b, layers)
        if la is not None and lb is not None and lb > la:
            found.append(f"{a} (layer {la}) imports {b} (layer {lb})")
        if local and (la is None or la < apps_layer):
            found.append(f"{a} imports {b} inside a function")
    graph = {m: set() for m in mods}
    for a, b, _ in edges:
        graph[a].add(b)
    # circles: a module that reaches itself
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == start:
                found.append(f"import circle through {start}")
                break
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
    return found


def test_jaxae_keeps_its_layers():
    mods = modules(PACKAGE)
    unplaced = [m for m in mods if m != "jaxae" and layer(m, LAYERS) is None]
    assert not unplaced, f"modules without a layer (add them to LAYERS): {unplaced}"
    assert problems(PACKAGE, LAYERS) == []


def test_the_check_finds_a_back_edge_and_a_circle(tmp_path):
    """The checker itself fails on a deliberately added upward import (which also closes a circle)."""
    root = tmp_path / "pkg"
    (root / "math").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "math" / "__init__.py").write_text("")
    (root / "math" / "core.py").write_text("import numpy\n")
    (root / "trainer.py").write_text("from pkg.math import core\n")
    layers = {"pkg.math": 1, "pkg.trainer": 2}
    assert problems(str(root), layers) == []
    (root / "math" / "core.py").write_text("def f():\n    from pkg import trainer\n")
    found = problems(str(root), layers)
    assert "pkg.math.core (layer 1) imports pkg.trainer (layer 2)" in found
    assert "pkg.math.core imports pkg.trainer inside a function" in found
    assert any(p.startswith("import circle") for p in found)


@pytest.mark.parametrize("module", ["jaxae", "jaxae.rbm", "jaxae.vae", "jaxae.autoencoder"])
def test_the_math_imports_no_trainer_and_no_heavy_dependency(module):
    code = (f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & "
            "{'orbax', 'PIL', 'tqdm', 'matplotlib', 'pandas', 'tensorflow_datasets'}), "
            "sorted(m for m in sys.modules if m.startswith(('jaxae.train', 'jaxae.tasks', 'jaxae.apps'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"}).stdout.strip()
    assert out == "[] []"


def test_apps_dispatch_on_offers_not_on_types_or_names():
    """No isinstance checks and no comparisons with model names in the eval/sample/recommend code: they
    read what a task offers (jaxae.tasks.offers)."""
    found = []
    for name in ("evaluate", "sample", "recommend"):
        path = os.path.join(PACKAGE, "apps", f"{name}.py")
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                found.append(f"{name}.py:{node.lineno} isinstance")
            sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            names_a_model = any(isinstance(c, ast.Attribute) and c.attr in ("model", "name") for c in sides)
            if names_a_model and any(isinstance(c, ast.Constant) and isinstance(c.value, str) for c in sides):
                found.append(f"{name}.py:{node.lineno} compares a model name: {ast.unparse(node)}")
    assert found == []


@pytest.mark.parametrize("package", ["jaxae", "jaxae.rbm", "jaxae.data", "jaxae.nn", "jaxae.train", "jaxae.tasks",
                                     "jaxae.apps"])
def test_every_package_lists_its_public_names_sorted(package):
    import importlib

    module = importlib.import_module(package)
    names = module.__all__
    assert list(names) == sorted(names), f"{package}.__all__ is not sorted"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names {missing}, which it does not have"
