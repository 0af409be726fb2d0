"""Sphinx configuration of jaxae's documentation: `python -m sphinx -W -b html docs docs/_build/html`."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "jaxae"
author = "the jaxae developers"
copyright = "2026, the jaxae developers"
release = "0.1.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": False}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
default_role = "code"  # `name` in docstrings is code, as in the sources
autodoc_typehints_format = "short"
autoclass_content = "class"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
napoleon_use_ivar = True  # "Attributes:" as fields, not as second descriptions of NamedTuple fields

# every reference to jaxae must resolve (a broken one fails the -W build); the dependencies' own
# classes are not in these docs and no inventory can be fetched offline
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|numpy|np|flax|nnx|optax|orbax|collections\.abc|typing|PIL)(\..*)?"),
    (r"py:meth", r"(init|apply|init_and_output|compact|__setattr__)"),
]

html_theme = "furo"
html_title = "jaxae"
