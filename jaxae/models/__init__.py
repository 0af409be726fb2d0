"""Models. MODELS maps a command-line name to (config class, task factory)."""
from jaxae.models import autoencoder, autorec, cf_rbm, conv_autoencoder, dbn, rbm, vae
from jaxae.models.autoencoder import AEConfig, Autoencoder, DAEConfig
from jaxae.models.conv_autoencoder import ConvAEConfig
from jaxae.models.vae import IWAEConfig, VAEConfig

MODELS = {
    "ae": (AEConfig, autoencoder.task),
    "dae": (DAEConfig, autoencoder.task),
    "conv-ae": (ConvAEConfig, conv_autoencoder.task),
    "vae": (VAEConfig, vae.task),
    "iwae": (IWAEConfig, vae.task),
    "rbm": (rbm.RBMConfig, rbm.task),
    "cf-rbm": (cf_rbm.CFRBMConfig, cf_rbm.cf_rbm_task),
    "rbm-binary": (cf_rbm.BinaryRBMConfig, cf_rbm.binary_task),
    "autorec": (autorec.AutoRecConfig, autorec.task),
    "dbn": (dbn.DBNConfig, None),  # a stack of runs: see jaxae.models.dbn.pretrain
    "dbn-classifier": (dbn.ClassifierConfig, dbn.classifier_task),
    "dbn-autoencoder": (dbn.AutoencoderConfig, dbn.autoencoder_task),
}

__all__ = ["AEConfig", "Autoencoder", "ConvAEConfig", "DAEConfig", "IWAEConfig", "MODELS", "VAEConfig",
           "autoencoder", "autorec", "cf_rbm", "conv_autoencoder", "dbn", "rbm", "vae"]
