"""Restricted Boltzmann machines as pure functions: a researcher's building blocks.

Parameters (`RBMParams`: W, b_vis, b_hid and their static `Units`), energies and free energies,
conditionals and samplers, exact log Z of small models, block Gibbs sampling in the BlackJAX shape
(`gibbs.build_kernel(units) -> kernel(key, state, params, mask=None)`), contrastive divergence
(`cd_gradient`, and the estimators `cd`, `pcd`), annealed importance sampling (`ais`), deep belief
networks (`dbn`) and deep Boltzmann machines (`dbm`). Everything composes with `jax.jit`, `vmap`, `grad` and `lax.scan`; nothing here
imports the trainer.
"""
from jaxae.rbm import ais, dbm, dbn, gibbs
from jaxae.rbm.cd import Sparsity, cd, cd_gradient, pcd
from jaxae.rbm.energy import (energy, free_energy, hidden_logits, hidden_mean, pseudo_log_likelihood,
                              sample_hidden, sample_visible, visible_logits)
from jaxae.rbm.exact import all_binary, exact_log_partition
from jaxae.rbm.gibbs import GibbsInfo, GibbsState, Kernel, build_kernel
from jaxae.rbm.params import RBMParams, check_binary, check_finite, check_visible, init, weights_mask
from jaxae.rbm.units import HIDDEN, VISIBLE, Units

__all__ = [
    "GibbsInfo", "GibbsState", "HIDDEN", "Kernel", "RBMParams", "Sparsity", "Units", "VISIBLE", "ais",
    "all_binary", "build_kernel", "cd", "cd_gradient", "check_binary", "check_finite", "check_visible",
    "dbm", "dbn", "energy", "exact_log_partition", "free_energy", "gibbs", "hidden_logits", "hidden_mean", "init",
    "pcd", "pseudo_log_likelihood", "sample_hidden", "sample_visible", "visible_logits", "weights_mask",
]
