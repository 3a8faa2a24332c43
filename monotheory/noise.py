"""Label noise and input noise, for numpy arrays and torch tensors alike.

Conventions
-----------
- ``noise_rate`` η is the probability (or, with ``sampling="exact"``, the share) of training samples chosen for
  corruption. With ``model="flip"`` a chosen sample always changes class, so the realised rate equals the chosen
  share; with ``model="uniform"`` a chosen sample is redrawn among all C classes and keeps its label with
  probability 1/C, so the realised rate is about η·(C−1)/C.
- ``transition`` is the C×C matrix T[i, j] = P(noisy label = j | true label = i).
- Output follows input: numpy in → numpy out; torch in → torch out on the same device with the same dtype.
- Every random function takes ``seed``: an int, a ``numpy.random.Generator``, a ``torch.Generator`` or None
  (fresh entropy). No global RNG state is touched.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from monotheory import seeding
from monotheory.config import (
    as_tuple,
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
    check_unique,
)
from monotheory.errors import ConfigError

# the largest input-noise scale σ any layer accepts: far beyond any signal (features in [0, 1], standardised pixels),
# and where float64 sums of σ·noise still keep the data's digits (the theory's exact paths use the same bound)
MAX_SIGMA = 1e6
LABEL_NOISE_MODELS = ("flip", "uniform")
SAMPLING_MODES = ("exact", "bernoulli")
INPUT_NOISE_KINDS = ("gaussian", "uniform")
# the training label-noise grid of the paper's robustness curves (Figure 1/3 rates), the default of NoiseGrid
DEFAULT_NOISE_RATES = (0.0, 0.3, 0.6, 0.9)


def _is_torch(x: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(x, torch.Tensor)


def as_numpy_rng(seed: Any = None) -> np.random.Generator:
    """Deprecated alias (one release) of :func:`monotheory.seeding.as_generator`, the one RNG converter."""
    warnings.warn("monotheory.noise.as_numpy_rng is deprecated; use monotheory.seeding.as_generator",
                  DeprecationWarning, stacklevel=2)
    return seeding.as_generator(seed)


def as_torch_generator(seed: Any = None, device: Any = "cpu"):
    """Deprecated alias (one release) of :func:`monotheory.seeding.as_torch_generator`."""
    warnings.warn("monotheory.noise.as_torch_generator is deprecated; use monotheory.seeding.as_torch_generator",
                  DeprecationWarning, stacklevel=2)
    return seeding.as_torch_generator(seed, device=device)


# ---------------------------------------------------------------------------------------------- label noise


@dataclass
class LabelNoise:
    """Result of :func:`label_noise`.

    labels:        noisy labels, same type (numpy/torch), dtype and device as the input labels.
    transition:    C×C numpy matrix, T[i, j] = P(noisy = j | true = i), for the per-sample corruption
                   probability actually used (η for Bernoulli sampling, round(η·N)/N for exact sampling).
    realised_rate: share of labels that differ from the input labels.
    corrupted:     boolean mask (same type/device as the labels) of the samples chosen for corruption; with
                   ``model="uniform"`` a chosen sample may keep its label.
    """

    labels: Any
    transition: np.ndarray
    realised_rate: float
    corrupted: Any


def off_diagonal_rate(model: str, noise_rate: Any, num_classes: int):
    """P(noisy = j | true = i) for one wrong class j ≠ i: η/(C−1) under ``flip``, η/C under ``uniform``.

    The one definition of the C-class label-noise models: :func:`transition_matrix` builds on it, and the
    theory's binary ``flip`` and ``uniform`` (:mod:`monotheory.theory.registry`) are it at C = 2. Plain
    arithmetic on ``noise_rate``, so it also takes NumPy arrays and SymPy expressions (not validated here).

    >>> off_diagonal_rate("flip", 0.3, 2), off_diagonal_rate("uniform", 0.3, 2)
    (0.3, 0.15)
    """
    model = check_choice("model", model, LABEL_NOISE_MODELS)
    c = check_int("num_classes", num_classes, minimum=2 if model == "flip" else 1)
    return noise_rate / (c - 1) if model == "flip" else noise_rate / c


def max_noise_rate(model: str, num_classes: int) -> float:
    """The end of the informative range [0, limit) of a label-noise rate for C classes: (C − 1)/C under
    ``flip`` (beyond it a wrong label is at least as likely as the right one; C = 2: 1/2), 1 under ``uniform``.
    :func:`check_label_noise_rate` refuses rates from it on."""
    model = check_choice("noise model", model, LABEL_NOISE_MODELS)
    c = check_int("number of classes", num_classes, minimum=2)
    return (c - 1) / c if model == "flip" else 1.0


def transition_matrix(num_classes: int, noise_rate: float, model: str = "flip") -> np.ndarray:
    """The expected C×C label transition matrix T[i, j] = P(noisy = j | true = i).

    ``flip``: T = (1−η)·I + η/(C−1)·(J − I) (a corrupted label moves to one of the C−1 other classes).
    ``uniform``: T = (1−η)·I + η/C·J (a corrupted label is redrawn among all C classes).
    Rows sum to one.
    """
    model = check_choice("model", model, LABEL_NOISE_MODELS)
    eta = check_probability("noise_rate", noise_rate)
    c = check_int("num_classes", num_classes, minimum=2 if model == "flip" else 1)
    off = off_diagonal_rate(model, eta, c)
    t = np.full((c, c), off)
    t[np.diag_indices(c)] = 1.0 - eta if model == "flip" else 1.0 - eta + off
    return t


def _labels_to_numpy(labels: Any) -> np.ndarray:
    if _is_torch(labels):
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == _torch_bool():
            raise ConfigError(f"labels have dtype {labels.dtype}; integer class indices are required")
        arr = labels.detach().cpu().numpy()
    else:
        arr = np.asarray(labels)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(f"labels have dtype {arr.dtype}; integer class indices are required")
    if arr.ndim != 1:
        raise ConfigError(f"labels have shape {tuple(arr.shape)}; a 1-D vector of class indices is required")
    return arr.astype(np.int64, copy=False)


def _torch_bool():
    import torch

    return torch.bool


def label_noise(labels: Any, noise_rate: float, num_classes: int | None = None, *, model: str = "flip",
                sampling: str = "exact", seed: Any = None) -> LabelNoise:
    """Corrupt integer class labels.

    Args:
        labels: 1-D integer class indices in [0, C) (numpy array, list or torch tensor on any device).
        noise_rate: η in [0, 1].
        num_classes: C; defaults to max(label) + 1.
        model: ``"flip"`` — a corrupted sample is relabelled uniformly among the C−1 *other* classes (the
            paper's code); ``"uniform"`` — relabelled uniformly among all C classes (may keep its label).
        sampling: ``"exact"`` — exactly round(η·N) samples (Python's round, halves to even), chosen without
            replacement, are corrupted (the paper's code); ``"bernoulli"`` — each sample independently with
            probability η.
        seed: int, numpy Generator, torch Generator or None. The same int seed gives the same noisy labels
            for numpy and torch inputs (the draws are made with numpy on the CPU).

    Returns:
        :class:`LabelNoise` (noisy labels, transition matrix, realised rate, corruption mask).
    """
    eta = check_probability("noise_rate", noise_rate)
    model = check_choice("model", model, LABEL_NOISE_MODELS)
    sampling = check_choice("sampling", sampling, SAMPLING_MODES)
    y = _labels_to_numpy(labels)
    n = y.shape[0]
    if num_classes is None:
        if n == 0:
            raise ConfigError("labels are empty; pass num_classes explicitly")
        num_classes = int(y.max()) + 1
    c = check_int("num_classes", num_classes, minimum=1)
    if model == "flip" and c < 2:
        raise ConfigError(f"num_classes = {c}; flip noise needs at least 2 classes (pass num_classes)")
    if n and (y.min() < 0 or y.max() >= c):
        raise ConfigError(f"labels range over [{y.min()}, {y.max()}], outside [0, {c - 1}] for "
                          f"num_classes = {c}")
    rng = seeding.as_generator(seed)

    if sampling == "exact":
        k = int(round(eta * n))
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=k, replace=False)] = True
        rate_used = k / n if n else eta
    else:
        mask = rng.random(n) < eta
        rate_used = eta
    noisy = y.copy()
    k = int(mask.sum())
    if model == "flip":
        # adding an offset in 1..C-1 modulo C hits each other class with probability 1/(C-1)
        noisy[mask] = (y[mask] + rng.integers(1, c, size=k)) % c
    else:
        noisy[mask] = rng.integers(0, c, size=k)
    realised = float((noisy != y).mean()) if n else 0.0
    transition = transition_matrix(c, rate_used, model)

    if _is_torch(labels):
        import torch

        out = torch.from_numpy(noisy).to(device=labels.device, dtype=labels.dtype)
        mask_out = torch.from_numpy(mask).to(device=labels.device)
    else:
        in_dtype = np.asarray(labels).dtype
        out = noisy.astype(in_dtype, copy=False)
        mask_out = mask
    return LabelNoise(labels=out, transition=transition, realised_rate=realised, corrupted=mask_out)


# ---------------------------------------------------------------------------------------------- input noise


def input_noise(x: Any, sigma: float, *, kind: str = "gaussian", seed: Any = None):
    """Return ``x`` plus noise: ``x + σ·N(0, I)`` (``kind="gaussian"``) or ``x + σ·U[0, 1)`` (``"uniform"``;
    not zero-mean, as in the paper's code: it also shifts the mean by σ/2).

    ``x`` is a floating-point numpy array or torch tensor; the result has the same type, shape, dtype and
    device. Torch noise is drawn on ``x``'s device (an int seed therefore gives different draws on CPU and
    CUDA); numpy noise with numpy's Generator. σ = 0 returns a copy of ``x``.
    """
    sigma = check_nonnegative("sigma", sigma)
    kind = check_choice("kind", kind, INPUT_NOISE_KINDS)
    if _is_torch(x):
        import torch

        if not x.dtype.is_floating_point:
            raise ConfigError(f"x has dtype {x.dtype}; input noise needs a floating-point tensor")
        gen = seeding.as_torch_generator(seed, device=x.device)
        draw = torch.randn if kind == "gaussian" else torch.rand
        # a generator on another device (e.g. a CPU generator for CUDA x) draws there, then moves
        noise = draw(x.shape, generator=gen, dtype=x.dtype, device=gen.device).to(x.device)
        return x + sigma * noise
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ConfigError(f"x has dtype {arr.dtype}; input noise needs a floating-point array")
    rng = seeding.as_generator(seed)
    if kind == "gaussian":
        noise = rng.standard_normal(arr.shape, dtype=arr.dtype if arr.dtype in (np.float32, np.float64)
                                    else np.float64)
    else:
        noise = rng.random(arr.shape, dtype=arr.dtype if arr.dtype in (np.float32, np.float64)
                           else np.float64)
    return (arr + sigma * noise).astype(arr.dtype, copy=False)


def check_sigma(name: str, sigma: Any) -> float:
    """The one validation of an input-noise scale σ, shared by every layer: finite, in [0, :data:`MAX_SIGMA`]."""
    return check_range(name, check_nonnegative(name, sigma), 0.0, MAX_SIGMA)


def check_sigmas(name: str, sigmas: Any) -> tuple[float, ...]:
    """A list of σ's (:func:`check_sigma` each, at least one, each once)."""
    values = as_tuple(name, sigmas)
    if not values:
        raise ConfigError(f"{name} is empty; give at least one σ")
    return check_unique(name, tuple(check_sigma(f"{name} entry", s) for s in values))


def check_label_noise_rates(name: str, rates: Any) -> tuple[float, ...]:
    """A list of label-noise rates in [0, 1] (at least one, each once); :func:`check_label_noise_rate` then checks
    each against the number of classes once it is known."""
    values = as_tuple(name, rates)
    if not values:
        raise ConfigError(f"{name} is empty; give at least one rate")
    return check_unique(name, tuple(check_probability(f"{name} entry", r) for r in values))


def check_label_noise_rate(name: str, rate: Any, num_classes: int, model: str = "flip") -> float:
    """The one validation of a label-noise rate for training a C-class classifier, shared by every layer.

    ``flip`` (a corrupted label moves to one of the C − 1 other classes): the right class keeps probability
    1 − η and each wrong one gets η/(C − 1), so for η ≥ (C − 1)/C a wrong label is at least as likely as the
    right one (C = 2: η ≥ 1/2 inverts the labels) and the rate is refused. ``uniform`` (redrawn among all C):
    the right class stays the most likely for every η < 1; η = 1 makes the labels pure noise and is refused.
    Returns the rate as a float; raises :class:`ConfigError` naming ``name``, the value and the allowed range.
    """
    limit = max_noise_rate(model, num_classes)
    c = int(num_classes)
    eta = check_probability(name, rate)
    if eta >= limit:
        why = ("a wrong label would be at least as likely as the right one" if model == "flip"
               else "the labels would carry no information")
        raise ConfigError(f"{name} = {rate:g} is outside [0, {limit:.4g}) for {model} label noise with {c} classes: "
                          f"{why}")
    return eta


def _grid_field(default: Any, help_: str, **meta: Any):
    return dataclasses.field(default=default, metadata={"help": help_, **meta})


@dataclass
class NoiseGrid:
    """The noise grid of a robustness profile, declared once: the training label-noise rates and their model, the
    test input-noise scales and their kind. A base of every config that profiles under noise
    (:class:`monotheory.probe.config.ProfileConfig`, :class:`monotheory.vision.config.ProbeConfig`), so the
    fields, their help texts (hence the command-line options) and their validation are the same everywhere.

    ``noise_rates`` are checked here as rates in [0, 1]; against the number of classes C (flip: η < (C − 1)/C)
    once C is known, by :func:`check_label_noise_rate`. σ's are checked by :func:`check_sigmas`.
    """

    noise_rates: tuple[float, ...] = _grid_field(
        DEFAULT_NOISE_RATES, "training label-noise rates η (each below (C−1)/C for flip noise on C classes, below 1 "
        "for uniform; a rate given is kept or refused, never dropped)")
    noise_model: str = _grid_field("flip", "label noise: flip (to one of the other classes) or uniform (redrawn "
                                   "among all classes)", choices=LABEL_NOISE_MODELS)
    noise_sampling: str = _grid_field("exact", "exact (round(η·N) labels changed) or bernoulli (each label with "
                                      "probability η)", choices=SAMPLING_MODES)
    sigmas: tuple[float, ...] = _grid_field((0.0, 0.2, 0.6), "test input-noise scales σ (images: on the normalised "
                                            "image; feature files: × the features' average sd)")
    input_noise: str = _grid_field("gaussian", "test input noise: gaussian (σ·N(0,1)) or uniform (σ·U[0,1))",
                                   choices=INPUT_NOISE_KINDS)

    def __post_init__(self):
        self.check()

    def check(self, *, grid_optional: bool = False) -> None:
        """Validate (and normalise to tuples of floats) the grid; ``grid_optional``: ``noise_rates=None`` stands
        for a default grid the subclass fits to the number of classes (:class:`ProfileConfig`)."""
        if self.noise_rates is not None or not grid_optional:
            self.noise_rates = check_label_noise_rates("noise_rates", self.noise_rates)
        self.sigmas = check_sigmas("sigmas", self.sigmas)
        check_choice("noise_model", self.noise_model, LABEL_NOISE_MODELS)
        check_choice("noise_sampling", self.noise_sampling, SAMPLING_MODES)
        check_choice("input_noise", self.input_noise, INPUT_NOISE_KINDS)


def noise_grid_field(name: str, default: Any, **meta: Any):
    """A :class:`NoiseGrid` field redeclared with another default (and extra metadata such as ``shown``), its
    help text and choices kept: for the one subclass whose default differs."""
    base = {f.name: f for f in dataclasses.fields(NoiseGrid)}[name]
    return dataclasses.field(default=default, metadata={**base.metadata, **meta})
