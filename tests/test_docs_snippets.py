"""Every fenced Python block of the README and docs/ runs as written, each in a fresh namespace (so a
block copied alone works), in a temporary folder.

A block may carry a marker on the line above it, an HTML comment (invisible when rendered):
  <!-- snippet: needs runs/vae (...); replace A with B (why) -->
"needs runs/vae": the test first trains a VAE for one epoch on mnist-mini into runs/vae, the run the
block opens. "replace A with B": the block runs with that text changed (e.g. k=5000 with k=20: the
same code, minutes faster). "skip (why)" would leave a block out; none does today.
"""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"(?:<!-- snippet: (?P<marker>.*?) -->\n)?```python\n(?P<code>.*?)```", re.S)


def snippets():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    for path in files:
        with open(path) as f:
            text = f.read()
        for match in FENCE.finditer(text):
            line = text[: match.start("code")].count("\n") + 1
            yield pytest.param(match.group("code"), match.group("marker") or "", id=f"{os.path.relpath(path, ROOT)}:{line}")


def test_the_docs_have_snippets():
    assert len(list(snippets())) >= 8


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    import jaxae
    from jaxae.tasks import vae

    folder = tmp_path_factory.mktemp("vae_run")
    jaxae.fit(vae.task(vae.VAEConfig()), jaxae.data.load("mnist-mini"), jaxae.TrainConfig(epochs=1, progress=False),
              str(folder / "runs" / "vae"))
    return folder


@pytest.mark.parametrize("code,marker", list(snippets()))
def test_snippet_runs(code, marker, tmp_path, monkeypatch, request):
    if marker.startswith("skip"):
        pytest.skip(marker)
    for old, new in re.findall(r"replace (\S+) with (\S+)", marker):
        assert old in code, f"the marker replaces {old!r}, which the block does not contain"
        code = code.replace(old, new)
    if "needs runs/vae" in marker:
        tmp_path = request.getfixturevalue("vae_run")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
