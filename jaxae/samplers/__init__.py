"""MCMC samplers in the BlackJAX style: a state NamedTuple, `init`, `kernel(key, state, params)`."""
from jaxae.samplers.gibbs import GibbsInfo, GibbsState, init, kernel, run

__all__ = ["GibbsInfo", "GibbsState", "init", "kernel", "run"]
