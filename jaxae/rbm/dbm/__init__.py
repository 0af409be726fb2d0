"""Deep Boltzmann machines (Salakhutdinov & Hinton 2009) as pure functions: parameters of any depth,
energy, conditionals, a blocked Gibbs kernel in the BlackJAX shape, mean-field inference and the
variational lower bound (`core`); exact log Z and AIS over the odd layers (`logz`); doubled-weight
pretraining and joint training with mean field and persistent chains (`learning`).

    params = dbm.init(key, (784, 500, 1000))
    mu = dbm.mean_field(params, v, n_updates=10)              # q(h | v)
    ais = dbm.log_partition(key, params, n_chains=100, n_temperatures=20_000)
    bound = dbm.unnormalized_bound(params, v, mu) - ais.log_z  # <= log p(v)
"""
from jaxae.rbm.dbm.core import (DBMInfo, DBMParams, DBMState, bottom_up, check_binary, check_layers, check_params,
                                check_visible, energy, init, init_chains, kernel, layer_logits, lower_bound,
                                mean_field, mean_field_update, parity, run, sample_layers, unnormalized_bound,
                                weights_mask)
from jaxae.rbm.dbm.learning import (doubled_cd, doubled_rbm_conditionals, from_rbms, hidden_probabilities,
                                    mean_field_pcd, model_layers, positions, statistics_gradient)
from jaxae.rbm.dbm.logz import exact_log_marginal, exact_log_partition, log_partition, odd_log_weight

__all__ = [
    "DBMInfo", "DBMParams", "DBMState", "bottom_up", "check_binary", "check_layers", "check_params", "check_visible",
    "doubled_cd", "doubled_rbm_conditionals", "energy", "exact_log_marginal", "exact_log_partition", "from_rbms",
    "hidden_probabilities", "init", "init_chains", "kernel", "layer_logits", "log_partition", "lower_bound", "mean_field",
    "mean_field_pcd", "mean_field_update", "model_layers", "odd_log_weight", "parity", "positions", "run",
    "sample_layers", "statistics_gradient", "unnormalized_bound", "weights_mask",
]
