"""The unit types of an RBM: a static, validated specification that travels with its parameters.

Visible units:
  - "bernoulli": binary units, p(v_i = 1 | h) = sigmoid(b_vis_i + (W h)_i). With `labels` = K > 0 the
    last K of them form one softmax group instead (a one-hot class label; Hinton, Osindero & Teh
    2006's top layer that generates digits of a chosen class).
  - "gaussian": real-valued units of unit variance (standardised data), v | h ~ N(b_vis + W h, 1).
  - "softmax": consecutive groups of `group` = K one-hot units (a rating 1..K per movie; Salakhutdinov,
    Mnih & Hinton 2007), p(v_gk = 1 | h) = softmax_k(b_vis + W h)_gk.
Hidden units:
  - "bernoulli": binary, p(h_j = 1 | v) = sigmoid(b_hid_j + (v W)_j).
  - "gaussian": linear units with unit-variance noise, h | v ~ N(b_hid + v W, 1) (the code layer of
    Hinton & Salakhutdinov 2006's deep autoencoder).
"""
from __future__ import annotations

from dataclasses import dataclass

from jaxae.errors import ConfigError, DataError

VISIBLE = ("bernoulli", "gaussian", "softmax")
HIDDEN = ("bernoulli", "gaussian")


@dataclass(frozen=True)
class Units:
    """An RBM's unit types (hashable: usable as a static argument of `jax.jit`).

    Attributes:
      visible: "bernoulli", "gaussian" or "softmax" (see the module docstring).
      hidden: "bernoulli" or "gaussian".
      group: K, the size of each softmax group (visible="softmax" only; >= 2).
      labels: K >= 2 label units ending a "bernoulli" visible layer as one softmax group (0: none).

    Raises:
      ConfigError: an unknown unit type (e.g. a misspelling) or an inconsistent group/labels.
    """

    visible: str = "bernoulli"
    hidden: str = "bernoulli"
    group: int = 0
    labels: int = 0

    def __post_init__(self):
        if self.visible not in VISIBLE:
            raise ConfigError(f"visible units must be one of {', '.join(VISIBLE)}, got {self.visible!r}")
        if self.hidden not in HIDDEN:
            raise ConfigError(f"hidden units must be one of {', '.join(HIDDEN)}, got {self.hidden!r}")
        if (self.visible == "softmax") != (self.group != 0) or self.group < 0 or self.group == 1:
            raise ConfigError(f"softmax visible units need a group size K >= 2 (and only they take one), got "
                              f"visible={self.visible!r}, group={self.group}")
        if self.labels < 0 or self.labels == 1 or (self.labels and self.visible != "bernoulli"):
            raise ConfigError(f"label units need at least 2 classes and bernoulli visible units, got labels="
                              f"{self.labels}, visible={self.visible!r}")

    @property
    def binary_visible(self) -> bool:
        """True when every visible unit is a plain Bernoulli unit (no label group)."""
        return self.visible == "bernoulli" and not self.labels

    def check_sizes(self, n_visible: int) -> None:
        """Raises DataError when `n_visible` does not fit the units (softmax groups, label units)."""
        if self.group and n_visible % self.group:
            raise DataError(f"{n_visible} visible units do not split into softmax groups of {self.group}; "
                            "use a multiple of the group size")
        if self.labels and n_visible <= self.labels:
            raise DataError(f"{n_visible} visible units leave no room for {self.labels} label units")

    def __str__(self) -> str:
        visible = f"softmax:{self.group}" if self.group else self.visible
        if self.labels:
            visible += f"+softmax:{self.labels}"
        return f"{visible} visible, {self.hidden} hidden"
