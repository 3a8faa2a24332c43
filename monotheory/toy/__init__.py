"""Toy models of superposition (Elhage et al. 2022) for Figure 5 of the paper: mono vs poly hidden codes.

This module holds the names and the experiment configs and imports no torch (so that ``monotheory toy
--help`` and the CLI's validation stay light); the models are in :mod:`monotheory.toy.model`, training in
:mod:`monotheory.toy.train`, the experiments in :mod:`monotheory.toy.experiments`, the figures in
:mod:`monotheory.toy.plots`.

Convention: ``sparsity`` S = probability that a feature is ZERO (Elhage's convention, as in the theory
layer); ``feature_probability`` = 1 − S.
"""

from __future__ import annotations

import dataclasses

from monotheory.config import (
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
    check_sparsity,
)
from monotheory.errors import ConfigError

REGIMES = ("poly", "mono-nonneg", "mono-nonneg-w", "mono-l1", "oracle")
MONO_REGIMES = tuple(r for r in REGIMES if r != "poly")
IMPORTANCES = ("uniform", "geometric")
TASKS = ("argmax", "pair")
F = dataclasses.field


@dataclasses.dataclass
class ToyConfig:
    """One Figure-5 experiment. Defaults: the paper's n = 40, m = 20, S = 0.2 (read as P(zero), Elhage's
    convention), everything else chosen before looking at the outcome (see the report / README)."""

    n: int = F(default=40, metadata={"help": "number of features"})
    m: int = F(default=20, metadata={"help": "hidden dimensions (m ≤ n)"})
    sparsity: float = F(default=0.2, metadata={"help": "S = probability that a feature is zero, in [0, 1)"})
    importance: str = F(default="uniform", metadata={"help": "feature importance: uniform or geometric"})
    importance_decay: float = F(default=0.9, metadata={"help": "r of geometric importance r**i"})
    regimes: tuple[str, ...] = F(default=REGIMES, metadata={"help": f"regimes to compare ({', '.join(REGIMES)})"})
    l1_penalty: float = F(default=0.05, metadata={"help": "λ of the mono-l1 regime (λ·Σ|h_j|)"})
    seeds: int = F(default=10, metadata={"help": "seeds per regime (≥ 2 for intervals)"})
    seed: int = F(default=0, metadata={"help": "first seed; seeds are seed, seed+1, …"})
    steps: int = F(default=2000, metadata={"help": "Adam steps of the toy models"})
    batch_size: int = F(default=1024, metadata={"help": "training batch per instance"})
    lr: float = F(default=3e-3, metadata={"help": "Adam learning rate"})
    task: str = F(default="argmax", metadata={"help": "probe task: argmax (n+1 classes) or pair (x0 > x1)"})
    probe_train: int = F(default=4096, metadata={"help": "probe training samples per instance"})
    probe_test: int = F(default=4096, metadata={"help": "probe test samples per instance"})
    probe_max_iter: int = F(default=100, metadata={"help": "L-BFGS iterations of the probe"})
    probe_weight_decay: float = F(default=0.0, metadata={"help": "L2 penalty of the probe"})
    noise_rate: float = F(default=0.9, metadata={"help": "label noise rate on the probe's training labels"})
    noise_model: str = F(default="flip", metadata={"help": "label noise model: flip or uniform"})
    noise_sampling: str = F(default="exact", metadata={"help": "label noise sampling: exact or bernoulli"})
    sigma: float = F(default=0.2, metadata={"help": "std of Gaussian noise added to test inputs x"})

    def __post_init__(self):
        if isinstance(self.regimes, str):
            self.regimes = tuple(r.strip() for r in self.regimes.split(",") if r.strip())
        self.regimes = tuple(self.regimes)
        self.check()

    def check(self) -> None:
        check_int("n", self.n, minimum=2)
        check_int("m", self.m)
        if self.m > self.n:
            raise ConfigError(f"m = {self.m} hidden units is more than n = {self.n} features; need m ≤ n")
        check_sparsity("sparsity", self.sparsity)
        check_choice("importance", self.importance, IMPORTANCES)
        check_range("importance_decay", self.importance_decay, 0.0, 1.0, lo_closed=False)
        if not self.regimes:
            raise ConfigError("regimes is empty; give at least one of " + ", ".join(REGIMES))
        for r in self.regimes:
            check_choice("regime", r, REGIMES)
        if len(set(self.regimes)) != len(self.regimes):
            raise ConfigError(f"regimes = {','.join(self.regimes)} lists a regime twice")
        check_nonnegative("l1_penalty", self.l1_penalty)
        check_int("seeds", self.seeds)
        check_int("seed", self.seed, minimum=0)
        check_int("steps", self.steps, minimum=0)
        check_int("batch_size", self.batch_size)
        check_range("lr", self.lr, 0.0, 10.0, lo_closed=False)
        check_choice("task", self.task, TASKS)
        check_int("probe_train", self.probe_train, minimum=2)
        check_int("probe_test", self.probe_test)
        check_int("probe_max_iter", self.probe_max_iter)
        check_nonnegative("probe_weight_decay", self.probe_weight_decay)
        check_probability("noise_rate", self.noise_rate)
        check_choice("noise_model", self.noise_model, ("flip", "uniform"))
        check_label_noise("noise_rate", self.noise_rate, self.num_classes, self.noise_model, self.task)
        check_choice("noise_sampling", self.noise_sampling, ("exact", "bernoulli"))
        check_nonnegative("sigma", self.sigma)

    @property
    def train_config(self):
        from monotheory.toy.train import TrainConfig

        return TrainConfig(self.steps, self.batch_size, self.lr)

    @property
    def num_classes(self) -> int:
        return self.n + 1 if self.task == "argmax" else 2


def check_label_noise(name: str, rate: float, num_classes: int, model: str, task: str) -> float:
    """Under ``flip`` noise with C classes a label stays right with probability 1 − η and moves to each wrong
    class with η/(C − 1): for η ≥ (C − 1)/C a wrong class is at least as likely as the right one (for the
    binary ``pair`` task, η ≥ 1/2 inverts the labels), so such rates are refused. ``uniform`` noise keeps
    the right class the most likely for every η < 1 and is not restricted here."""
    from monotheory.noise import check_label_noise_rate  # the one rule for every layer (issue 11)

    return check_label_noise_rate(name, rate, num_classes, model)



@dataclasses.dataclass
class SweepConfig:
    """The sweeps: accuracy against label-noise rate and σ, and the (sparsity, noise) map of mono − poly."""

    noise_rates: tuple[float, ...] = F(default=(0.0, 0.3, 0.5, 0.7, 0.8, 0.9),
                                       metadata={"help": "label noise rates of the sweep"})
    sigmas: tuple[float, ...] = F(default=(0.0, 0.1, 0.2, 0.4, 0.8), metadata={"help": "input noise σ's"})
    sparsities: tuple[float, ...] = F(default=(0.2, 0.5, 0.8, 0.9, 0.95),
                                      metadata={"help": "sparsities S of the map"})
    map_noise: str = F(default="label", metadata={"help": "noise axis of the map: label or input"})
    mono: str = F(default="oracle", metadata={"help": "mono regime compared with poly in the map"})

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        for r in self.noise_rates:
            check_probability("noise rate", r)
        for s in self.sigmas:
            check_nonnegative("sigma", s)
        for s in self.sparsities:
            check_sparsity("sparsity", s)
        if not (self.noise_rates and self.sigmas and self.sparsities):
            raise ConfigError("noise_rates, sigmas and sparsities each need at least one value")
        check_choice("map_noise", self.map_noise, ("label", "input"))
        check_choice("mono", self.mono, [r for r in REGIMES if r != "poly"])

    def check_against(self, cfg: ToyConfig) -> None:
        """Check the label-noise rates of the sweep against the task and noise model of ``cfg``
        (see :func:`check_label_noise`; e.g. with ``task=pair`` and flip noise every rate must be < 1/2)."""
        for r in self.noise_rates:
            check_label_noise("noise_rates entry", r, cfg.num_classes, cfg.noise_model, cfg.task)
