"""The data model of the paper's theory (Section 4.3, Appendix B): spike-and-uniform features.

Conventions used throughout ``monotheory.theory``:

* ``sparsity`` S = probability that a feature is ZERO (Elhage et al.'s S); ``feature_probability`` = 1 − S.
  Each x_i is 0 with probability S, else U[0, 1], independently.
* The binary label of the theory is ``y = 1`` iff feature 1 is the strict argmax (for two features:
  x1 > x2). The only tie has every feature at zero (probability S^n); ``tie_rule`` says what to do with it:
  ``drop`` (remove the sample), ``class0`` / ``class1`` (give it that label), ``random`` (a fair coin).
* Feature maps: ν_mono = x1 (one neuron, one feature) and ν_poly = w1·x1 − w2·x2 (one neuron carrying an
  antipodal pair; Appendix B.4's weighted form, default w = (1, 1)).
* Label noise acts on y after it is computed from the clean x: ``flip`` (each label flips to the other class
  with probability η), ``one_sided`` (only 1 → 0, with probability η), ``uniform`` (with probability η the
  label is redrawn uniformly from both classes, i.e. a flip at rate η/2). η > 1/2 inverts the labels.
* Input noise: N(0, λ²) added to every x_i after the labels are computed (test-time noise).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from monotheory.config import check_choice, check_int, check_nonnegative, check_probability, check_sparsity
from monotheory.errors import ConfigError
from monotheory.seeding import as_generator
from monotheory.theory import registry

TIE_RULES = ("drop", "class0", "class1", "random")
NOISE_MODELS = registry.BUILTIN_NOISE_MODELS  # users add more: registry.register_noise_model
REGIMES = ("mono", "poly")  # the regime: one neuron per feature (mono) or one neuron mixing two (poly)


def check_weights(weights) -> tuple[float, float]:
    """Two positive, finite weights (w1, w2) of ν_poly = w1·x1 − w2·x2."""
    try:
        w = tuple(float(v) for v in weights)
    except (TypeError, ValueError):
        raise ConfigError(f"weights = {weights!r} is not a pair of numbers") from None
    if len(w) != 2 or not all(np.isfinite(w)) or min(w) <= 0:
        raise ConfigError(f"weights = {weights!r} must be two positive finite numbers w1,w2")
    return w


def transition_rates(noise_model: str, noise_rate: float) -> tuple[float, float]:
    """(P(ỹ=0 | y=1), P(ỹ=1 | y=0)) of a label-noise model at rate η (see the module docstring).

    Any registered model (:mod:`monotheory.theory.registry`); one given only by a sampler or a moment
    transition has no rates and gets ConfigError here."""
    model = registry.get_noise_model(noise_model)
    eta = check_probability("noise_rate", noise_rate)
    if model.rates is None:
        if model.sampler is not None:  # sampler-only: validated, no rates to report
            return float("nan"), float("nan")
        raise ConfigError(f"noise_model = {noise_model!r} has no label rates or sampler; it works on exact "
                          "moments only")
    p10, p01 = model.rates(eta)
    return float(p10), float(p01)


def mono_feature(x: np.ndarray) -> np.ndarray:
    """ν_mono = x1 for samples ``x`` of shape (n, n_features)."""
    return x[:, 0]


def poly_feature(x: np.ndarray, weights=(1.0, 1.0)) -> np.ndarray:
    """ν_poly = w1·x1 − w2·x2 for samples ``x`` of shape (n, n_features)."""
    w1, w2 = check_weights(weights)
    return w1 * x[:, 0] - w2 * x[:, 1]


def feature(name: str, x: np.ndarray, weights=(1.0, 1.0)) -> np.ndarray:
    """The feature map called ``name`` (``mono`` or ``poly``) applied to ``x``."""
    check_choice("regime", name, REGIMES)
    return mono_feature(x) if name == "mono" else poly_feature(x, weights)


@dataclasses.dataclass
class SpikeUniform:
    """Spike-and-uniform features with the binary argmax label of the theory.

    ``sparsity`` = P(x_i = 0) in [0, 1); ``n_features`` ≥ 2; ``tie_rule`` in :data:`TIE_RULES`.
    ``sample(n, rng)`` returns ``(x, y)``: x of shape (m, n_features), y in {0, 1} with y = 1 iff x1 is the
    strict argmax. Under ``tie_rule="drop"`` the all-zero rows are removed, so m ≤ n (E[m] = n(1 − S^d)).
    """

    sparsity: float
    n_features: int = 2
    tie_rule: str = "drop"

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        self.sparsity = check_sparsity("sparsity", self.sparsity)
        self.n_features = check_int("n_features", self.n_features, minimum=2)
        check_choice("tie_rule", self.tie_rule, TIE_RULES)

    @property
    def feature_probability(self) -> float:
        return 1.0 - self.sparsity

    def sample_features(self, n: int, rng=None) -> np.ndarray:
        """n draws of x (shape (n, n_features)), float64.

        One uniform per entry suffices: x = max((u − S)/(1 − S), 0) is 0 when u ≤ S (probability S) and
        U[0, 1) otherwise. Computed in place (three passes, no temporaries).
        """
        n = check_int("n", n, minimum=0)
        u = as_generator(rng).random((n, self.n_features))
        u -= self.sparsity
        u *= 1.0 / (1.0 - self.sparsity)
        return np.maximum(u, 0.0, out=u)

    def labels(self, x: np.ndarray, rng=None) -> np.ndarray:
        """Binary labels of ``x``: 1 if x1 is the strict argmax, 0 if another feature is, and for the
        all-zero tie: −1 (``drop``), 0, 1, or a fair coin (``random``)."""
        rest = x[:, 1:].max(axis=1)
        y = (x[:, 0] > rest).astype(np.int64)
        tie = (x[:, 0] == rest) & (rest == 0.0)
        if self.tie_rule == "drop":
            y[tie] = -1
        elif self.tie_rule == "class1":
            y[tie] = 1
        elif self.tie_rule == "random":
            y[tie] = as_generator(rng).integers(0, 2, size=int(tie.sum()))
        return y

    def sample(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` for n draws (ties handled by ``tie_rule``; dropped rows removed)."""
        rng = as_generator(rng)
        x = self.sample_features(n, rng)
        y = self.labels(x, rng)
        if self.tie_rule == "drop":
            keep = y >= 0
            x, y = x[keep], y[keep]
        return x, y


def noisy_labels(y: np.ndarray, noise_model: str, noise_rate: float, rng=None) -> np.ndarray:
    """Labels after label noise (independent per sample; see :func:`transition_rates`), or the registered
    model's own sampler when it has one."""
    p10, p01 = transition_rates(noise_model, noise_rate)
    sampler = registry.get_noise_model(noise_model).sampler
    if sampler is not None:
        return np.asarray(sampler(y, noise_rate, as_generator(rng)), dtype=y.dtype)
    u = as_generator(rng).random(y.shape)
    flip = np.where(y == 1, u < p10, u < p01)
    return np.where(flip, 1 - y, y)


def add_input_noise(x: np.ndarray, sigma: float, rng=None) -> np.ndarray:
    """x + N(0, λ²) on every entry (λ = ``sigma`` ≥ 0; λ = 0 returns x unchanged)."""
    lam = check_nonnegative("sigma", sigma)
    if lam == 0:
        return x
    return x + lam * as_generator(rng).standard_normal(x.shape)


def __getattr__(name: str):
    """``FEATURES``: the old name of :data:`REGIMES` (deprecated, one release)."""
    if name == "FEATURES":
        warnings.warn("monotheory.theory.datamodel.FEATURES is deprecated; use REGIMES", DeprecationWarning,
                      stacklevel=2)
        return REGIMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
