"""The model registry: `jaxae train NAME` -> its Model entry (config, task, offers, training defaults)."""
from __future__ import annotations

from jaxae.tasks import ae, autorec, cf_rbm, conv_ae, cvae, dbm, dbm_classifier, dbn, dbn_finetune, rbm, rbm_binary, sae, vae
from jaxae.tasks.offers import Model

MODELS: dict[str, Model] = {
    "ae": Model(ae.AEConfig, ae.task, ae.offers),
    "dae": Model(ae.DAEConfig, ae.task, ae.offers),
    "conv-ae": Model(conv_ae.ConvAEConfig, conv_ae.task, conv_ae.offers),
    "vae": Model(vae.VAEConfig, vae.task, vae.offers),
    "iwae": Model(vae.IWAEConfig, vae.task, vae.offers),
    "cvae": Model(cvae.CVAEConfig, cvae.task, cvae.offers),
    "rbm": Model(rbm.RBMConfig, rbm.task, rbm.offers, {"train_eval": True}, data_for=dbn.layer_data),
    "cf-rbm": Model(cf_rbm.CFRBMConfig, cf_rbm.task, cf_rbm.offers, {"init_examples": -1}),
    "rbm-binary": Model(rbm_binary.BinaryRBMConfig, rbm_binary.task, rbm_binary.offers),
    "autorec": Model(autorec.AutoRecConfig, autorec.task, autorec.offers),
    "dbn": Model(dbn.DBNConfig, None, dbn.offers, {"train_eval": True}, pretrain=dbn.pretrain),
    "dbm": Model(dbm.DBMConfig, dbm.task, dbm.offers, {"batch_size": 100}, pretrain=dbm.train),
    "dbm-layer": Model(dbm.DBMLayerConfig, dbm.layer_task, dbm.layer_offers, {"batch_size": 100}),
    "dbm-classifier": Model(dbm_classifier.ClassifierConfig, dbm_classifier.task, dbm_classifier.offers,
                            {"batch_size": 100}),
    "dbn-classifier": Model(dbn_finetune.ClassifierConfig, dbn_finetune.classifier_task, dbn_finetune.classifier_offers),
    "sae": Model(sae.SAEConfig, sae.task, sae.offers, {"batch_size": 1024, "init_examples": 4096}),
    "dbn-autoencoder": Model(dbn_finetune.AutoencoderConfig, dbn_finetune.autoencoder_task, dbn_finetune.autoencoder_offers),
}
