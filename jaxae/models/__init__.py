"""Models. MODELS maps a command-line name to (config class, task factory)."""
from jaxae.models import autoencoder
from jaxae.models.autoencoder import AEConfig, Autoencoder

MODELS = {
    "ae": (AEConfig, autoencoder.task),
}

__all__ = ["AEConfig", "Autoencoder", "MODELS", "autoencoder"]
