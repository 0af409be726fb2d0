"""examples/nnx_vae.py as a module, so the tests train the example's own NNX VAE."""
import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "nnx_vae.py")
_spec = importlib.util.spec_from_file_location("nnx_vae_example", _PATH)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)
NNXVAE = example.NNXVAE
