"""Sparse autoencoders for dictionary learning: pure math (layer 1).

Parameters (`SAEParams`, `init`, `geometric_median`), encoders of `(params, x)` (`relu`, `topk`,
`batch_topk`, `jumprelu`, `decode`), losses (`l1_loss`, `topk_loss`, `batch_topk_loss`,
`matryoshka_loss`, `jumprelu_loss`, `auxk_loss`), training pieces (`estimator`, `optimizer`,
`remove_parallel_decoder_grad`, `project`) and metrics (`jaxae.sae.metrics`). Everything composes with
`jit`, `vmap` and `grad`; `jaxae train sae` (jaxae.tasks.sae) trains them from the command line.
"""
from jaxae.sae import metrics
from jaxae.sae.encoders import (batch_topk, decode, jump, jumprelu, keep_batch_top, keep_top, pre_activations, relu,
                                 step, topk)
from jaxae.sae.losses import (SAEOutput, auxk_loss, batch_topk_loss, jumprelu_loss, l1_loss, matryoshka_loss,
                              squared_error, topk_loss)
from jaxae.sae.params import SAEParams, geometric_median, init
from jaxae.sae.training import SAEState, estimator, optimizer, project, remove_parallel_decoder_grad

__all__ = [
    "SAEOutput", "SAEParams", "SAEState", "auxk_loss", "batch_topk", "batch_topk_loss", "decode", "estimator",
    "geometric_median", "init", "jump", "jumprelu", "jumprelu_loss", "keep_batch_top", "keep_top", "l1_loss", "matryoshka_loss",
    "metrics", "optimizer", "pre_activations", "project", "relu", "remove_parallel_decoder_grad",
    "squared_error", "step", "topk", "topk_loss",
]
