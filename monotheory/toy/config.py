"""The names and configs of the toy models (:class:`ToyConfig`, :class:`TrainConfig`, :class:`SweepConfig`,
:class:`SearchConfig`). Imports no torch, so that ``monotheory toy --help`` and the CLI's validation stay light;
:mod:`monotheory.toy` re-exports everything here.

Convention: ``sparsity`` S = probability that a feature is ZERO (Elhage's convention, as in the theory
layer); ``feature_probability`` = 1 − S.
"""

from __future__ import annotations

import dataclasses
import warnings

from monotheory.config import (
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
    check_sparsity,
    check_unique,
)
from monotheory.errors import ConfigError
from monotheory.noise import (  # the one rule per quantity and the one table of every layer (issues 11, 21, 23)
    LABEL_NOISE_MODELS,
    SAMPLING_MODES,
    check_label_noise_rate,
    check_label_noise_rates,
    check_sigma,
    check_sigmas,
)

TOY_REGIMES = ("poly", "mono-nonneg", "mono-nonneg-w", "mono-l1", "mono-topk", "oracle", "oracle-rot", "oracle-topk",
           "dense-trained")
MONO_REGIMES = tuple(r for r in TOY_REGIMES if r != "poly")
HAND_BUILT = frozenset({"oracle", "oracle-rot", "oracle-topk"})      # not trained
TOPK_REGIMES = frozenset({"mono-topk", "oracle-topk"})
# codes with a per-unit nonlinearity (ReLU or top-k): the only ones where a per-unit measure means something
PER_UNIT_CODES = frozenset({"mono-nonneg", "mono-l1"}) | TOPK_REGIMES
DENSE_TRAINED = "dense-trained"                                      # trained at S = 0, evaluated at the target S
# the default Figure 5: poly, the trained monosemantic regime and the oracle controls (20 trained instances at
# 10 seeds and 1000 steps: a quarter of the earlier default's 40 × 2000 steps, for the 60 s budget); the older
# mono regimes and dense-trained stay available by name
DEFAULT_REGIMES = ("poly", "mono-topk", "oracle", "oracle-rot", "oracle-topk")
# k of the top-k codes: the largest k of {2, 4, 8, 20} whose trained units carry one feature each at S = 0.8,
# uniform importance, on search seeds 0–4 (k = 4: 2.2–3.1 features per unit; k = 2: 1.0 per unit, recovery
# 0.96–0.97); chosen before any accuracy was looked at. Since issue 22 the premise rule (metrics.MONOSEMANTIC_RULE)
# also bounds interference, and no trained top-k code passes it (k = 2: 0.46–0.53); C5 sweeps k (docs/toy.md)
DEFAULT_TOPK = 2
# σ in feature-sd units by default: 0.6, the paper's σ on standardised (unit-sd) pixels
DEFAULT_SIGMA_SD = 0.6
# the σ grid of `toy sweep` (raw units)
DEFAULT_SWEEP_SIGMAS = (0.0, 0.1, 0.2, 0.4, 0.8)
# the one set of defaults of the toy models' training: TrainConfig's, which ToyConfig's training fields share
DEFAULT_STEPS = 1000
DEFAULT_BATCH_SIZE = 1024
DEFAULT_LR = 3e-3
IMPORTANCES = ("uniform", "geometric")
TASKS = ("argmax", "pair")
F = dataclasses.field


@dataclasses.dataclass
class TrainConfig:
    """How to train the toy models (Elhage et al. used Adam-type optimisers, lr 1e-3, batch 1024)."""

    steps: int = F(default=DEFAULT_STEPS, metadata={"help": "Adam steps of the toy models"})
    batch_size: int = F(default=DEFAULT_BATCH_SIZE, metadata={"help": "training batch per instance"})
    lr: float = F(default=DEFAULT_LR, metadata={"help": "Adam learning rate (cosine-decayed to 0)"})

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        check_int("steps", self.steps, minimum=0)
        check_int("batch_size", self.batch_size)
        check_range("lr", self.lr, 0.0, 10.0, lo_closed=False)


@dataclasses.dataclass
class ToyConfig:
    """One Figure-5 experiment. Defaults: the paper's n = 40, m = 20, S = 0.2 (read as P(zero), Elhage's
    convention), everything else chosen before looking at the outcome (see the report / README)."""

    n: int = F(default=40, metadata={"help": "number of features"})
    m: int = F(default=20, metadata={"help": "hidden dimensions (m ≤ n)"})
    sparsity: float = F(default=0.2, metadata={"help": "S = probability that a feature is zero, in [0, 1)"})
    importance: str = F(default="uniform", metadata={"help": "feature importance: uniform or geometric"})
    importance_decay: float = F(default=0.9, metadata={"help": "r of geometric importance r**i"})
    regimes: tuple[str, ...] = F(default=DEFAULT_REGIMES, metadata={"help": f"regimes to compare ({', '.join(TOY_REGIMES)})"})
    l1_penalty: float = F(default=0.05, metadata={"help": "λ of the mono-l1 regime (λ·Σ|h_j|)"})
    topk: int = F(default=DEFAULT_TOPK, metadata={"help": "k of the top-k codes (mono-topk, oracle-topk), 1 ≤ k ≤ m"})
    n_seeds: int = F(default=10, metadata={"help": "number of seeds per regime (≥ 2 for intervals)"})
    seed: int = F(default=0, metadata={"help": "first seed; the n_seeds seeds are seed, seed+1, …"})
    steps: int = F(default=DEFAULT_STEPS, metadata={"help": "Adam steps of the toy models"})
    batch_size: int = F(default=DEFAULT_BATCH_SIZE, metadata={"help": "training batch per instance"})
    lr: float = F(default=DEFAULT_LR, metadata={"help": "Adam learning rate (cosine-decayed to 0)"})
    task: str = F(default="argmax", metadata={"help": "probe task: argmax (n+1 classes) or pair (x0 > x1)"})
    probe_train: int = F(default=4096, metadata={"help": "probe training samples per instance"})
    probe_test: int = F(default=4096, metadata={"help": "probe test samples per instance"})
    probe_max_iter: int = F(default=100, metadata={"help": "L-BFGS iterations of the probe"})
    probe_weight_decay: float = F(default=0.0, metadata={"help": "L2 penalty of the probe"})
    noise_rate: float = F(default=0.9, metadata={"help": "label noise rate on the probe's training labels"})
    noise_model: str = F(default="flip", metadata={"help": "label noise model: flip or uniform"})
    noise_sampling: str = F(default="exact", metadata={"help": "label noise sampling: exact or bernoulli"})
    sigma: float | None = F(default=None, metadata={"help": "std of Gaussian noise added to test inputs x, raw "
                                                            "units (give this or --sigma-sd)"})
    sigma_sd: float | None = F(default=None, metadata={
        "help": f"the same σ as a multiple of one feature's standard deviation at the chosen S (default "
                f"{DEFAULT_SIGMA_SD:g} when --sigma is not given)"})

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
            raise ConfigError("regimes is empty; give at least one of " + ", ".join(TOY_REGIMES))
        for r in self.regimes:
            check_choice("regime", r, TOY_REGIMES)
        if len(set(self.regimes)) != len(self.regimes):
            raise ConfigError(f"regimes = {','.join(self.regimes)} lists a regime twice")
        check_nonnegative("l1_penalty", self.l1_penalty)
        check_int("n_seeds", self.n_seeds)
        check_int("seed", self.seed, minimum=0)
        self.train_config.check()  # steps, batch_size and lr: TrainConfig's rules (one place)
        check_choice("task", self.task, TASKS)
        check_int("probe_train", self.probe_train, minimum=2)
        check_int("probe_test", self.probe_test)
        check_int("probe_max_iter", self.probe_max_iter)
        check_nonnegative("probe_weight_decay", self.probe_weight_decay)
        check_probability("noise_rate", self.noise_rate)
        check_choice("noise_model", self.noise_model, LABEL_NOISE_MODELS)
        check_label_noise("noise_rate", self.noise_rate, self.num_classes, self.noise_model, self.task)
        check_choice("noise_sampling", self.noise_sampling, SAMPLING_MODES)
        if self.sigma is not None and self.sigma_sd is not None:
            raise ConfigError(f"sigma = {self.sigma:g} and sigma_sd = {self.sigma_sd:g} are both given; give "
                              "the input-noise scale once, in raw units (sigma) or in feature sds (sigma_sd)")
        if self.sigma is not None:
            check_sigma("sigma", self.sigma)
        if self.sigma_sd is not None:
            check_sigma("sigma_sd", self.sigma_sd)
        if check_int("topk", self.topk) > self.m:
            raise ConfigError(f"topk = {self.topk} is outside [1, m = {self.m}]; a top-k code keeps at most m units")
        if self.probe_train < self.num_classes:
            raise ConfigError(f"probe_train = {self.probe_train} is below the {self.num_classes} classes of task "
                              f"{self.task}; need at least one sample per class")

    def sigma_at(self, sparsity: float) -> float:
        """Raw σ at ``sparsity``: ``sigma`` if given, else ``sigma_sd`` (default DEFAULT_SIGMA_SD) × feature_sd(S)."""
        if self.sigma is not None:
            return float(self.sigma)
        sd = DEFAULT_SIGMA_SD if self.sigma_sd is None else self.sigma_sd
        return float(sd) * feature_sd(sparsity)

    def sigma_sd_at(self, sparsity: float) -> float:
        """σ in feature-sd units at ``sparsity`` (the other of the pair recorded in every result)."""
        return self.sigma_at(sparsity) / feature_sd(sparsity)

    @property
    def train_config(self) -> TrainConfig:
        """The training part of this config (checked by :class:`TrainConfig`)."""
        return TrainConfig(self.steps, self.batch_size, self.lr)

    @property
    def seeds(self) -> list[int]:
        """The ``n_seeds`` seeds of the experiment: ``seed``, ``seed + 1``, … (a list; ``n_seeds`` is its count)."""
        return list(range(self.seed, self.seed + self.n_seeds))

    @property
    def num_classes(self) -> int:
        return self.n + 1 if self.task == "argmax" else 2


def feature_sd(sparsity: float) -> float:
    """Standard deviation of one spike-and-uniform feature (0 with probability S, else U[0, 1)):
    E x = (1 − S)/2, E x² = (1 − S)/3, so sd = √((1 − S)/3 − (1 − S)²/4) (0.289 at S = 0, 0.238 at S = 0.8)."""
    p = 1.0 - check_sparsity("sparsity", sparsity)
    return (p / 3.0 - p * p / 4.0) ** 0.5


def check_label_noise(name: str, rate: float, num_classes: int, model: str, task: str) -> float:
    """Under ``flip`` noise with C classes a label stays right with probability 1 − η and moves to each wrong
    class with η/(C − 1): for η ≥ (C − 1)/C a wrong class is at least as likely as the right one (for the
    binary ``pair`` task, η ≥ 1/2 inverts the labels), so such rates are refused. ``uniform`` noise keeps
    the right class the most likely for every η < 1 and is not restricted here."""
    return check_label_noise_rate(name, rate, num_classes, model)


@dataclasses.dataclass
class SweepConfig:
    """The sweeps: accuracy against label-noise rate and σ, and the (sparsity, noise) map of mono − poly.

    The σ grid is ``sigmas`` (raw units) or ``sigma_sds`` (feature-sd units at each S), as ``sigma`` /
    ``sigma_sd`` in :class:`ToyConfig`; ``sigma_unit`` is the deprecated way of saying ``sigma_sds``."""

    noise_rates: tuple[float, ...] = F(default=(0.0, 0.3, 0.5, 0.7, 0.8, 0.9),
                                       metadata={"help": "label noise rates of the sweep"})
    sigmas: tuple[float, ...] | None = F(default=None, metadata={
        "help": "input-noise σ's in raw units (default " + ",".join(f"{v:g}" for v in DEFAULT_SWEEP_SIGMAS)
                + " when --sigma-sds is not given)"})
    sigma_sds: tuple[float, ...] | None = F(default=None, metadata={
        "help": "the input-noise σ's in feature-sd units at each S instead (give this or --sigmas)"})
    sparsities: tuple[float, ...] = F(default=(0.2, 0.5, 0.8, 0.9, 0.95),
                                      metadata={"help": "sparsities S of the map"})
    map_noise: str = F(default="label", metadata={"help": "noise axis of the map: label or input"})
    mono: str = F(default="oracle", metadata={"help": "mono regime compared with poly in the map"})
    sigma_unit: str | None = F(default=None, metadata={
        "deprecated": "give σ's in feature-sd units as --sigma-sds A,B,... (and raw ones as --sigmas)"})

    def __post_init__(self):
        if self.sigma_unit is not None:  # the old spelling of sigma_sds: deprecated for one release
            warnings.warn("SweepConfig(sigma_unit=...) is deprecated; give σ's in feature-sd units as sigma_sds "
                          "(raw ones as sigmas)", DeprecationWarning, stacklevel=3)
            check_choice("sigma_unit", self.sigma_unit, ("raw", "sd"))
            if self.sigma_unit == "sd" and self.sigma_sds is None:
                self.sigma_sds, self.sigmas = self.sigmas or DEFAULT_SWEEP_SIGMAS, None
            self.sigma_unit = None
        if self.sigmas is None and self.sigma_sds is None:
            self.sigmas = DEFAULT_SWEEP_SIGMAS
        self.check()

    @property
    def sigma_levels(self) -> tuple[float, ...]:
        """The σ grid in its own unit (:attr:`unit`)."""
        return tuple(self.sigmas if self.sigma_sds is None else self.sigma_sds)

    @property
    def unit(self) -> str:
        """``raw`` (``sigmas``) or ``sd`` (``sigma_sds``): the unit of :attr:`sigma_levels`."""
        return "raw" if self.sigma_sds is None else "sd"

    def check(self) -> None:
        if self.sigmas is not None and self.sigma_sds is not None:
            raise ConfigError("sigmas and sigma_sds are both given; give the input-noise grid once, in raw units "
                              "(sigmas) or in feature sds (sigma_sds)")
        if not (self.noise_rates and self.sigma_levels and self.sparsities):
            raise ConfigError("noise_rates, sigmas (or sigma_sds) and sparsities each need at least one value")
        self.noise_rates = check_label_noise_rates("noise_rates", self.noise_rates)
        if self.sigmas is not None:
            self.sigmas = check_sigmas("sigmas", self.sigmas)
        if self.sigma_sds is not None:
            self.sigma_sds = check_sigmas("sigma_sds", self.sigma_sds)
        for s in self.sparsities:
            check_sparsity("sparsity", s)
        check_unique("sparsities", self.sparsities)
        check_choice("map_noise", self.map_noise, ("label", "input"))
        check_choice("mono", self.mono, list(MONO_REGIMES))

    def check_against(self, cfg: ToyConfig) -> None:
        """Check the label-noise rates of the sweep against the task and noise model of ``cfg``
        (see :func:`check_label_noise`; e.g. with ``task=pair`` and flip noise every rate must be < 1/2), and that
        cfg's regimes include poly, the reference of the map (as in the search)."""
        if "poly" not in cfg.regimes:
            raise ConfigError(f"regimes = {','.join(cfg.regimes)} must include poly, the reference of every gap")
        for r in self.noise_rates:
            check_label_noise("noise_rates entry", r, cfg.num_classes, cfg.noise_model, cfg.task)


@dataclasses.dataclass
class SearchConfig:
    """``monotheory toy search``: the grid searched on the SEARCH seeds for conditions where the paper's pattern
    (poly better clean, mono better under label noise and under input noise) is strongest. The selected
    conditions are then re-run on held-out seeds with fresh models (C5); only those results enter a verdict."""

    sparsities: tuple[float, ...] = F(default=(0.5, 0.8, 0.9), metadata={"help": "sparsities S searched"})
    importances: tuple[str, ...] = F(default=IMPORTANCES, metadata={"help": "importances searched"})
    sigma_sds: tuple[float, ...] = F(default=(0.5, 1.0, 1.5, 2.0),
                                     metadata={"help": "input-noise σ's in feature-sd units"})
    noise_rates: tuple[float, ...] = F(default=(0.5, 0.7, 0.9), metadata={"help": "label-noise rates searched"})
    probe_sizes: tuple[int, ...] = F(default=(1024, 4096, 16384), metadata={"help": "probe training sizes"})
    regimes: tuple[str, ...] = F(default=("poly", "mono-topk", "oracle", "oracle-rot", "oracle-topk",
                                                 "dense-trained"), metadata={"help": "regimes of the search"})
    select: tuple[str, ...] = F(default=("mono-topk", "oracle"),
                                metadata={"help": "mono regimes for which a condition is selected"})

    def __post_init__(self):
        for name in ("regimes", "select"):
            v = getattr(self, name)
            if isinstance(v, str):
                setattr(self, name, tuple(r.strip() for r in v.split(",") if r.strip()))
        self.check()

    def check(self) -> None:
        for name in ("sparsities", "importances", "sigma_sds", "noise_rates", "probe_sizes", "regimes",
                     "select"):
            if not tuple(getattr(self, name)):
                raise ConfigError(f"search grid axis {name} is empty; give at least one value")
        for s in self.sparsities:
            check_sparsity("sparsities entry", s)
        for imp in self.importances:
            check_choice("importances entry", imp, IMPORTANCES)
        for s in self.sigma_sds:
            check_sigma("sigma_sds entry", s)
        for r in self.noise_rates:
            check_probability("noise_rates entry", r)
        for name in ("sparsities", "importances", "sigma_sds", "noise_rates", "probe_sizes", "regimes", "select"):
            check_unique(name, getattr(self, name))
        for n in self.probe_sizes:
            check_int("probe_sizes entry", n)
        for r in tuple(self.regimes) + tuple(self.select):
            check_choice("search regime", r, TOY_REGIMES)
        if "poly" not in self.regimes:
            raise ConfigError("regimes must include poly, the reference of every gap")
        for r in self.select:
            if r == "poly" or r not in self.regimes:
                raise ConfigError(f"select = {r} must be a non-poly regime of regimes "
                                  f"({','.join(self.regimes)})")

    def check_against(self, cfg: ToyConfig) -> None:
        """Probe sizes at least the number of classes; label-noise rates valid for the task."""
        for n in self.probe_sizes:
            if n < cfg.num_classes:
                raise ConfigError(f"probe_sizes entry = {n} is below the {cfg.num_classes} classes of task "
                                  f"{cfg.task}; need at least one sample per class")
        for r in self.noise_rates:
            check_label_noise("noise_rates entry", r, cfg.num_classes, cfg.noise_model, cfg.task)


def __getattr__(name: str):
    """``REGIMES``: the old name of :data:`TOY_REGIMES` (deprecated, one release; the theory's
    ``monotheory.theory.REGIMES`` is mono and poly)."""
    if name == "REGIMES":
        warnings.warn(f"{__name__}.REGIMES is deprecated; use TOY_REGIMES (the theory's REGIMES are mono, poly)",
                      DeprecationWarning, stacklevel=2)
        return TOY_REGIMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
