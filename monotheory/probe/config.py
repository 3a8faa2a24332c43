"""The settings of a robustness profile (:class:`ProfileConfig`, saved whole with every profile) and the rules
that check them against the data: the label-noise grid a number of classes allows, and the ``--mono`` views.

Conventions: ``noise_rate`` η of :func:`monotheory.noise.label_noise` on the training labels only (test labels
clean); σ of :func:`monotheory.noise.input_noise` at test time only. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import sys

from monotheory.config import (
    as_tuple,
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
    check_unique,
)
from monotheory.deprecation import renamed_fields
from monotheory.errors import ConfigError
from monotheory.noise import DEFAULT_NOISE_RATES, NoiseGrid, check_label_noise_rate, noise_grid_field

MONO_VIEWS = ("sae-topk", "relu")
BASELINES = ("l2", "sae-random")
DEFAULT_L2_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # = monotheory.probes.tuned.DEFAULT_ALPHAS


def _f(default, help_, **meta):
    return dataclasses.field(default=default, metadata={"help": help_, **meta})


@renamed_fields({"seeds": "n_seeds", "n_boot": "n_resamples"})  # the old names, one release (issue 21)
@dataclasses.dataclass
class ProfileConfig(NoiseGrid):
    """Settings of one profile (saved whole as ``config.json``). The noise grid (``noise_rates``, ``noise_model``,
    ``noise_sampling``, ``sigmas``, ``input_noise``) is :class:`monotheory.noise.NoiseGrid`'s, shared with the
    probe stage of ``run-imagenet``. ``seeds`` and ``n_boot`` are the deprecated names of ``n_seeds`` and
    ``n_resamples`` (they work for one release and warn)."""

    # The one default that differs from NoiseGrid's: None stands for NoiseGrid's grid less the rates the classes
    # cannot carry (allowed_noise_rates, with a note), because a profile runs on data of any number of classes
    # (the 0.9 of the default grid is refused for 10 digits); run-imagenet's presets name their grids instead.
    noise_rates: tuple[float, ...] | None = noise_grid_field(
        "noise_rates", None, shown=",".join(f"{r:g}" for r in DEFAULT_NOISE_RATES) + " less the rates C classes "
        "cannot carry")
    mono: tuple[str, ...] = _f((), "monosemantic views profiled beside the features: sae-topk[:k], relu")
    n_seeds: int = _f(1, "number of seeds (label-noise draw, probe, SAE); ≥ 2 gives seed-level intervals",
                      renamed_from="seeds")
    seed: int = _f(0, "base seed of every random stream")
    solver: str = _f("lbfgs", "probe solver: lbfgs, sgd or adam")
    lr: float | None = _f(None, "probe learning rate (default: the solver's)")
    weight_decay: float = _f(1e-4, "probe L2 penalty λ/2·‖W‖² (on standardised features when --standardize)")
    max_iter: int = _f(300, "L-BFGS iterations")
    epochs: int = _f(50, "sgd/adam epochs")
    batch_size: int = _f(256, "sgd/adam batch size")
    normalize_features: bool = _f(False, "L2-normalise every feature vector before the probe")
    standardize: bool = _f(True, "standardise features for the probe fit (conditioning; scale-free comparisons)")
    sae_latents: int = _f(0, "SAE latents for --mono sae-topk (0: the feature width d)")
    sae_epochs: int = _f(50, "SAE training epochs")
    baselines: tuple[str, ...] = _f((), "strong baselines profiled beside the features: l2 (an L2 probe of the "
                                    "features whose penalty is chosen on a held-out split of the noisy training "
                                    "labels), sae-random (a top-k SAE with frozen random weights beside each "
                                    "sae-topk view: same latents and k, never trained)")
    l2_grid: tuple[float, ...] = _f(DEFAULT_L2_GRID, "the penalties λ the l2 baseline chooses from")
    l2_holdout: float = _f(0.2, "share of the noisy training labels held out to choose the l2 baseline's λ")
    figure4_rate: float | None = _f(None, "training label-noise rate of Figure 4 (a rate of the grid; default: 0.9 "
                                    "if the grid has it and the labels stay informative, else the highest such rate)")
    confidence: float = _f(0.95, "confidence level of every interval")
    n_resamples: int = _f(2000, "paired bootstrap resamples", renamed_from="n_boot")
    device: str = _f("cpu", "torch device for extraction, SAE and probes (cpu, cuda, cuda:1 …)")

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        super().check(grid_optional=True)
        self.mono = check_unique("mono", as_tuple("mono", self.mono, str))
        self.baselines = check_unique("baselines", as_tuple("baselines", self.baselines, str))
        self.l2_grid = check_unique("l2_grid", as_tuple("l2_grid", self.l2_grid, float))
        check_int("n_seeds", self.n_seeds)
        check_int("seed", self.seed, minimum=0)
        check_choice("solver", self.solver, ("lbfgs", "sgd", "adam"))
        check_nonnegative("weight_decay", self.weight_decay)
        if self.lr is not None:
            check_range("lr", self.lr, 0, float("inf"), lo_closed=False, hi_closed=False)
        check_int("max_iter", self.max_iter)
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_int("sae_latents", self.sae_latents, minimum=0)
        check_int("sae_epochs", self.sae_epochs)
        check_range("confidence", self.confidence, 0, 1, lo_closed=False, hi_closed=False)
        check_int("n_resamples", self.n_resamples, minimum=100)
        for m in self.mono:
            parse_mono(m)
        for b in self.baselines:
            check_choice("--baselines", b, BASELINES)
        if "sae-random" in self.baselines and not any(str(m).startswith("sae-topk") for m in self.mono):
            raise ConfigError("--baselines sae-random needs a --mono sae-topk[:k] view (the random SAE takes its "
                              "latents and k); add one, e.g. --mono sae-topk")
        if not self.l2_grid:
            raise ConfigError("l2_grid needs at least one penalty λ ≥ 0")
        for a in self.l2_grid:
            check_range("l2_grid value", a, 0, 1e6)
        check_range("l2_holdout", self.l2_holdout, 0, 0.5, lo_closed=False)
        grid = DEFAULT_NOISE_RATES if self.noise_rates is None else self.noise_rates
        if self.figure4_rate is not None and check_probability("figure4_rate", self.figure4_rate) not in grid:
            raise ConfigError(f"figure4_rate = {self.figure4_rate} is not a rate of the grid (noise_rates "
                              f"{', '.join(f'{r:g}' for r in grid)}); choose one of them")


def allowed_noise_rates(cfg: ProfileConfig, num_classes: int, *, note: bool = True) -> ProfileConfig:
    """``cfg`` with a label-noise grid that is valid for ``num_classes`` classes.

    A rate that :func:`monotheory.noise.check_label_noise_rate` refuses (flip: η ≥ (C−1)/C, where a wrong label
    is at least as likely as the right one) raises :class:`ConfigError` when the user gave the grid (even one equal
    to the default: a rate given is never dropped); the default grid (``noise_rates=None``) drops such rates
    instead (one note on stderr when ``note``), so that 0.9 is kept for 100 ImageNet classes and dropped for 10
    digits.
    """
    if cfg.figure4_rate is not None:
        check_label_noise_rate("figure4_rate", cfg.figure4_rate, num_classes, cfg.noise_model)
    if cfg.noise_rates is not None:
        for r in cfg.noise_rates:
            check_label_noise_rate("noise_rate", r, num_classes, cfg.noise_model)
        return cfg
    kept, dropped = [], []
    for r in DEFAULT_NOISE_RATES:
        try:
            kept.append(check_label_noise_rate("noise_rate", r, num_classes, cfg.noise_model))
        except ConfigError:
            dropped.append(r)
    if dropped and note:
        print(f"note: default noise rates {', '.join(f'{r:g}' for r in dropped)} dropped: {cfg.noise_model} label "
              f"noise with {num_classes} classes allows η < {(num_classes - 1) / num_classes:.4g}", file=sys.stderr)
    return dataclasses.replace(cfg, noise_rates=tuple(kept))


def parse_mono(spec: str, dim: int | None = None, latents: int = 0) -> tuple[str, int | None]:
    """``"relu"`` → ("relu", None); ``"sae-topk[:k]"`` → ("sae-topk", k) with k ≤ the SAE's latents (default
    latents = d, default k = latents // 8, the paper's 256 of 2048). ``dim`` checks k once d is known."""
    name, _, arg = str(spec).partition(":")
    check_choice("--mono", name, MONO_VIEWS)
    if name == "relu":
        if arg:
            raise ConfigError(f"--mono {spec!r}: relu takes no argument")
        return name, None
    k = None
    if arg:
        try:
            k = int(arg)
        except ValueError:
            raise ConfigError(f"--mono {spec!r}: k = {arg!r} is not an integer") from None
        check_int("--mono sae-topk k", k)
    if dim is not None:
        n = latents or dim
        k = max(1, n // 8) if k is None else k
        if k > n:
            raise ConfigError(f"--mono {spec!r}: k = {k} exceeds the SAE's {n} latents (the feature width d = {dim}"
                              f"{'' if not latents else ', --sae-latents'}); choose k ≤ {n}")
    return name, k


def view_name(spec: str, dim: int, latents: int = 0) -> str:
    """The column name of a ``--mono`` view, with its k resolved (``sae-topk`` → ``sae-topk:8`` at d = 64)."""
    name, k = parse_mono(spec, dim, latents)
    return name if k is None else f"{name}:{k}"
