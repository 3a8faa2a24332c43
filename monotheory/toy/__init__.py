"""Toy models of superposition (Elhage et al. 2022) for Figure 5 of the paper: mono vs poly hidden codes.

The names and configs are in :mod:`monotheory.toy.config` (re-exported here; no torch, so that ``monotheory toy
--help`` and the CLI's validation stay light); the models are in :mod:`monotheory.toy.model`, training in
:mod:`monotheory.toy.train`, the experiments in :mod:`monotheory.toy.experiments`, the figures in
:mod:`monotheory.toy.plots`.

Convention: ``sparsity`` S = probability that a feature is ZERO (Elhage's convention, as in the theory
layer); ``feature_probability`` = 1 − S.
"""

from monotheory.toy import config as _config
from monotheory.toy.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    DEFAULT_REGIMES,
    DEFAULT_SIGMA_SD,
    DEFAULT_STEPS,
    DEFAULT_SWEEP_SIGMAS,
    DEFAULT_TOPK,
    DENSE_TRAINED,
    HAND_BUILT,
    IMPORTANCES,
    MONO_REGIMES,
    PER_UNIT_CODES,
    TASKS,
    TOPK_REGIMES,
    TOY_REGIMES,
    SearchConfig,
    SweepConfig,
    ToyConfig,
    TrainConfig,
    check_label_noise,
    feature_sd,
)

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_LR", "DEFAULT_REGIMES", "DEFAULT_SIGMA_SD", "DEFAULT_STEPS",
           "DEFAULT_SWEEP_SIGMAS", "DEFAULT_TOPK",
           "DENSE_TRAINED", "HAND_BUILT", "IMPORTANCES", "MONO_REGIMES", "PER_UNIT_CODES", "TASKS", "TOPK_REGIMES",
           "TOY_REGIMES", "SearchConfig", "SweepConfig", "ToyConfig", "TrainConfig", "check_label_noise",
           "feature_sd"]


def __getattr__(name: str):
    """``REGIMES``: the old name of ``TOY_REGIMES`` (deprecated, one release; :mod:`monotheory.toy.config` warns)."""
    if name == "REGIMES":
        return getattr(_config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
