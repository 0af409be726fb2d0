"""Tasks: one small module per command-line model (its config, `task(config)` for the trainer and
`offers(config)`: what the trained model offers beyond training), the model registry (MODELS: a
`jaxae train NAME` -> its `Model` entry) and `load_run`, which reopens any run folder."""
from jaxae.tasks import ae, autorec, cf_rbm, conv_ae, cvae, dbm, dbn, dbn_finetune, rbm, rbm_binary, sae, vae
from jaxae.tasks.ae import AEConfig, DAEConfig
from jaxae.tasks.autorec import AutoRecConfig
from jaxae.tasks.cf_rbm import CFRBMConfig
from jaxae.tasks.conv_ae import ConvAEConfig
from jaxae.tasks.cvae import CVAEConfig
from jaxae.tasks.dbm import DBMConfig
from jaxae.tasks.dbn import DBNConfig
from jaxae.tasks.dbn_finetune import AutoencoderConfig, ClassifierConfig
from jaxae.tasks.offers import (Boltzmann, Classifier, Codec, DeepBoltzmann, ImportanceLikelihood, Model, Offers,
                                Recommender)
from jaxae.tasks.rbm import RBMConfig
from jaxae.tasks.rbm_binary import BinaryRBMConfig
from jaxae.tasks.registry import MODELS
from jaxae.tasks.runs import Run, export_run, import_params, load_run
from jaxae.tasks.sae import SAEConfig
from jaxae.tasks.vae import IWAEConfig, VAEConfig


__all__ = [
    "AEConfig", "AutoRecConfig", "AutoencoderConfig", "BinaryRBMConfig", "Boltzmann", "CFRBMConfig", "CVAEConfig",
    "Classifier", "ClassifierConfig", "Codec", "ConvAEConfig", "DAEConfig", "DBMConfig", "DBNConfig", "DeepBoltzmann", "IWAEConfig",
    "ImportanceLikelihood", "MODELS", "Model", "Offers", "RBMConfig", "Recommender", "Run", "SAEConfig", "VAEConfig", "ae",
    "autorec", "cf_rbm", "conv_ae", "cvae", "dbm", "dbn", "dbn_finetune", "export_run", "import_params", "load_run", "rbm",
    "rbm_binary", "sae", "vae",
]
