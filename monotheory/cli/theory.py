"""``monotheory theory``: exact and Monte Carlo moments, separability and crossovers of ν_mono vs ν_poly.

Conventions as in :mod:`monotheory.theory.datamodel` (S = ``--sparsity`` = P(feature is zero); y = 1 iff
x1 is the strict argmax). Exact values are for two features; with ``--n-features`` > 2 only the Monte Carlo
columns are filled. ``--samples 0`` skips the Monte Carlo.

``--json`` prints one JSON object instead of the table; ``--quiet`` hides the progress bar; ``--out DIR``
also writes ``results.json`` (what ``--json`` prints), ``config.json`` and the figure ``theory_curves.png``
(the criterion of both regimes against η and against σ, crossovers marked) with its data
``theory_curves.json``, each atomically (:mod:`monotheory.files`).

``--plugin MODULE`` (repeatable; a module name on PYTHONPATH or a path to a .py file) is imported before
the options are checked, so the criteria and noise models it registers (:mod:`monotheory.theory.registry`)
can be named by ``--criterion`` / ``--noise-model``; installed packages can also declare an entry point in
the group ``monotheory.plugins``, which is loaded on every run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from monotheory.config import (
    add_dataclass_arguments,
    check_choice,
    check_int,
    check_nonnegative,
    check_probability,
    check_range,
    check_sparsity,
    from_namespace,
    to_dict,
)
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, check_out_dir, to_jsonable
from monotheory.noise import LABEL_NOISE_MODELS, check_label_noise_rate
from monotheory.plots import plot_regime_curves, pyplot, save_figure
from monotheory.progress import announce
from monotheory.theory import registry
from monotheory.theory import separation as cx
from monotheory.theory import symbolic as sy
from monotheory.theory.datamodel import NOISE_MODELS, TIE_RULES, check_weights
from monotheory.theory.montecarlo import monte_carlo

QUANTITIES = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1", "separability")


@dataclasses.dataclass
class TheoryConfig:
    """Settings of one ``monotheory theory`` run (see the module docstring for conventions)."""

    sparsity: float | None = dataclasses.field(
        default=None, metadata={"help": "S = P(feature is zero), in [0, 1)", "required": True,
                                "metavar": "S"})
    noise_rate: float = dataclasses.field(
        default=0.0, metadata={"help": "label-noise rate η: flip < 1/2, uniform and one_sided < 1"})
    sigma: float = dataclasses.field(default=0.0, metadata={"help": "λ of N(0, λ²) added to each x_i"})
    criterion: str = dataclasses.field(default="fisher", metadata={"help": "/".join(sy.CRITERIA) + " or one registered by --plugin"})
    noise_model: str = dataclasses.field(default="flip", metadata={"help": "/".join(NOISE_MODELS) + " or one registered by --plugin"})
    samples: int = dataclasses.field(default=1_000_000, metadata={"help": "Monte Carlo draws (0: exact only)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of numpy.random.default_rng"})
    weights: tuple[float, ...] = dataclasses.field(
        default=(1.0, 1.0), metadata={"help": "w1,w2 of ν_poly = w1·x1 − w2·x2 (positive)"})
    tie_rule: str = dataclasses.field(default="drop", metadata={"help": "/".join(TIE_RULES)})
    n_features: int = dataclasses.field(default=2, metadata={"help": "number of spike-and-uniform features"})
    chunk: int = dataclasses.field(default=1 << 20, metadata={"help": "Monte Carlo rows per chunk"})

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        if self.sparsity is None:
            raise ConfigError("sparsity is required: pass --sparsity S with S in [0, 1)")
        self.sparsity = check_sparsity("sparsity", self.sparsity)
        self.noise_rate = check_probability("noise_rate", self.noise_rate)
        if self.noise_model in LABEL_NOISE_MODELS:  # the labels y ∈ {0, 1}: the rule every layer shares
            self.noise_rate = check_label_noise_rate("noise_rate", self.noise_rate, 2, self.noise_model)
        elif self.noise_model == "one_sided" and self.noise_rate >= 1:
            raise ConfigError(f"noise_rate = {self.noise_rate:g} is outside [0, 1) for one_sided label noise: "
                              "every label would be 0")
        self.sigma = check_nonnegative("sigma", self.sigma)
        registry.get_criterion(self.criterion)  # built-in or registered (the message says how to register)
        registry.get_noise_model(self.noise_model)
        check_choice("tie_rule", self.tie_rule, TIE_RULES)
        self.samples = check_int("samples", self.samples, minimum=0)
        self.seed = check_int("seed", self.seed, minimum=0)
        self.weights = check_weights(self.weights)
        self.n_features = check_int("n_features", self.n_features, minimum=2)
        self.chunk = check_int("chunk", self.chunk, minimum=1)
        model = registry.get_noise_model(self.noise_model)
        if self.samples > 0 and model.rates is None and model.sampler is None:
            raise ConfigError(f"noise_model = {self.noise_model!r} has no label rates or sampler, so no Monte Carlo: "
                              "pass --samples 0")
        if model.rates is None and model.moments is None:
            raise ConfigError(f"noise_model = {self.noise_model!r} has only a sampler; the exact columns need rates "
                              "or a moment transition")
        check_monte_carlo_size(self)  # issue 11: no NaN columns or zero standard errors


@dataclasses.dataclass
class TheoryOutput:
    """What ``monotheory theory`` does besides computing: plugins to load first, where and how to report (not part
    of the result's config)."""

    out: str | None = dataclasses.field(default=None, metadata={
        "metavar": "DIR", "help": "also write results.json, config.json and theory_curves.png (+ its data) to DIR"})
    json: bool = dataclasses.field(default=False, metadata={
        "help": "print one JSON object on stdout instead of the table"})
    quiet: bool = dataclasses.field(default=False, metadata={"help": "no progress bar"})
    plugins: tuple[str, ...] = dataclasses.field(default=(), metadata={
        "flag": "plugin", "repeat": True, "metavar": "MODULE",
        "help": "import MODULE (a module name or a .py file) first: it may register criteria and noise models "
                "(monotheory.theory.registry); repeatable"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option from a config: :class:`TheoryConfig` and :class:`TheoryOutput`."""
    add_dataclass_arguments(parser, TheoryConfig)
    add_dataclass_arguments(parser, TheoryOutput)


# Monte Carlo seconds per 10⁶ draws on the 2-core CPU: `theory --sparsity 0.2 --samples 1e8` took 3.7 s of which
# about 1.1 s is the fixed exact part (1e6 draws: 1.09 s, 1e7: 1.17 s), load average 7-9, 2026-12-04; the earlier
# 0.05 (a quiet machine, before the fused kernel) was about 2x pessimistic
MC_SECONDS_PER_MILLION = 0.03
MIN_SAMPLES = 1000  # the SE comes from 20 interleaved batch estimates: each needs draws of its own
MIN_NONZERO = 100  # expected draws with a nonzero feature, or the Monte Carlo moments are NaN


def check_monte_carlo_size(cfg: TheoryConfig) -> None:
    """Refuse a Monte Carlo too small to estimate anything: ``samples`` in 1..999 (the standard error of 20
    batch estimates came out 0) or ``samples·(1 − S)`` < 100 expected draws with a nonzero feature (S close to
    1: every Monte Carlo column NaN). ``--samples 0`` (exact values only) is always allowed."""
    check_range("sigma", cfg.sigma, 0, sy.MAX_SIGMA)
    if cfg.samples == 0:
        return
    if cfg.samples < MIN_SAMPLES:
        raise ConfigError(f"samples = {cfg.samples} is too few for a Monte Carlo standard error; use 0 (exact "
                          f"values only) or ≥ {MIN_SAMPLES}")
    nonzero = cfg.samples * (1 - cfg.sparsity)
    if nonzero < MIN_NONZERO:
        raise ConfigError(f"sparsity = {cfg.sparsity!r} with samples = {cfg.samples} leaves about {nonzero:.3g} "
                          f"draws with a nonzero feature; the Monte Carlo needs ≥ {MIN_NONZERO} (raise --samples, "
                          "lower --sparsity, or --samples 0 for exact values only)")


def exact_values(cfg: TheoryConfig) -> dict:
    """Exact moments and separability of both features at the configured noise (None for n_features > 2)."""
    kw = dict(weights=cfg.weights, tie_rule=cfg.tie_rule, noise_model=cfg.noise_model,
              sigma=cfg.sigma)
    out = {}
    for f in ("mono", "poly"):
        if cfg.n_features != 2:
            out[f] = dict.fromkeys(QUANTITIES)
            continue
        m = sy.moments(f, cfg.sparsity, noise_rate=cfg.noise_rate, **kw)
        m["separability"] = cx.separability(cfg.criterion, f, cfg.sparsity, cfg.noise_rate, **kw)
        out[f] = {k: float(m[k]) for k in QUANTITIES}
    return out


def run(cfg: TheoryConfig, progress: bool | None = None) -> dict:
    """Everything the command prints, as a JSON-ready dict (with the config under ``"config"``)."""
    t0 = time.perf_counter()
    exact = exact_values(cfg)
    mc = None
    crit = registry.get_criterion(cfg.criterion)
    if cfg.samples > 0:
        mc = monte_carlo(cfg.sparsity, cfg.samples, cfg.seed, cfg.weights, cfg.tie_rule, cfg.noise_rate,
                         cfg.noise_model, cfg.sigma, cfg.n_features, cfg.chunk,
                         threshold=crit.function is None, progress=progress,
                         criteria=(cfg.criterion,) if crit.function is not None else ())
    result: dict = {"config": to_dict(cfg), "criterion": cfg.criterion, "noise_model": cfg.noise_model,
                    "higher_is_more_separable": crit.higher_is_better}
    for f in ("mono", "poly"):
        rows = {}
        for k in QUANTITIES:
            key = cfg.criterion if k == "separability" else k
            est, se = mc[f][key] if mc else (None, None)
            rows[k] = {"exact": exact[f][k], "mc": est, "se": se}
        result[f] = rows
    kw = dict(weights=cfg.weights, tie_rule=cfg.tie_rule)
    if cfg.n_features == 2:
        c = cx.crossover(cfg.criterion, cfg.noise_model, cfg.sparsity, sigma=cfg.sigma, **kw)
        r = cx.input_noise_reversal(cfg.criterion, cfg.sparsity, cfg.noise_rate, cfg.noise_model, **kw)
    else:  # the closed forms are for two features: no exact crossover to report
        note = f"exact crossovers are for 2 features, not {cfg.n_features}"
        c = cx.Crossover(None, "none", "eta", (0.0, registry.get_noise_model(cfg.noise_model).upper), note=note)
        r = cx.Crossover(None, "none", "lambda", (0.0, 3.0), note=note)
    result.update(crossover=c.value, crossover_detail=dataclasses.asdict(c),
                  input_noise_reversal=r.value, input_noise_reversal_detail=dataclasses.asdict(r),
                  n_draws=mc["n_draws"] if mc else 0, n_kept=mc["n_kept"] if mc else 0,
                  seconds=time.perf_counter() - t0)
    return result


N_CURVE = 41  # points per curve of the --out figure
SIGMA_UPPER = 3.0  # end of the σ axis: the range input_noise_reversal searches


def curves(cfg: TheoryConfig, result: dict | None = None) -> dict | None:
    """Exact criterion of both regimes against the label-noise rate η (at ``cfg.sigma``) and against the
    input-noise σ (at ``cfg.noise_rate``), with the crossovers of ``result`` (from :func:`run`) as marks.
    None for ``n_features`` > 2 (no closed forms)."""
    if cfg.n_features != 2:
        return None
    crit = registry.get_criterion(cfg.criterion)
    upper = registry.get_noise_model(cfg.noise_model).upper
    kw = dict(weights=cfg.weights, tie_rule=cfg.tie_rule, noise_model=cfg.noise_model)
    etas = np.linspace(0.0, upper, N_CURVE, endpoint=False)
    sigmas = np.linspace(0.0, SIGMA_UPPER, N_CURVE)
    ylabel = f"{cfg.criterion} ({'higher' if crit.higher_is_better else 'lower'} = more separable)"
    result = result or {}
    label = {"x": etas, "xlabel": f"label-noise rate η ({cfg.noise_model}), σ = {cfg.sigma:g}", "ylabel": ylabel,
             "title": f"S = {cfg.sparsity:g}", "mark": result.get("crossover"),
             **{r: cx.separability_curve(cfg.criterion, r, cfg.sparsity, etas, sigma=cfg.sigma, **kw)
                for r in ("mono", "poly")}}
    inp = {"x": sigmas, "xlabel": f"input-noise σ, η = {cfg.noise_rate:g}", "ylabel": ylabel,
           "title": f"S = {cfg.sparsity:g}", "mark": result.get("input_noise_reversal"),
           **{r: np.array([cx.separability(cfg.criterion, r, cfg.sparsity, cfg.noise_rate, sigma=float(s), **kw)
                           for s in sigmas]) for r in ("mono", "poly")}}
    return {"label_noise": label, "input_noise": inp}


def write_outputs(out: Path, cfg: TheoryConfig, result: dict) -> list[Path]:
    """``results.json``, ``config.json`` and (two features) ``theory_curves.png`` + ``.json`` in ``out``."""
    paths = [atomic_write_json(out / "results.json", result), atomic_write_json(out / "config.json", to_dict(cfg))]
    data = curves(cfg, result)
    if data is not None:
        fig, axes = pyplot().subplots(1, 2, figsize=(8.6, 3.2))
        for ax, key in zip(axes, ("label_noise", "input_noise"), strict=True):
            plot_regime_curves(data[key], ax)
        paths.append(save_figure(fig, out / "theory_curves.png", data))
    return paths


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.6f}"


def table(result: dict) -> str:
    """The result as a readable text table."""
    cfg = result["config"]
    lines = [f"spike-and-uniform, S = {cfg['sparsity']:g}, η = {cfg['noise_rate']:g} ({cfg['noise_model']}), "
             f"λ = {cfg['sigma']:g}, w = {tuple(cfg['weights'])}, ties: {cfg['tie_rule']}, "
             f"{result['n_draws']:,} draws (seed {cfg['seed']})",
             f"{'quantity':<14}{'mono exact':>12}{'mono MC':>12}{'± SE':>11}{'poly exact':>13}{'poly MC':>12}"
             f"{'± SE':>11}"]
    for k in QUANTITIES:
        name = f"{result['criterion']}" if k == "separability" else k
        m, p = result["mono"][k], result["poly"][k]
        lines.append(f"{name:<14}{_fmt(m['exact']):>12}{_fmt(m['mc']):>12}{_fmt(m['se']):>11}"
                     f"{_fmt(p['exact']):>13}{_fmt(p['mc']):>12}{_fmt(p['se']):>11}")
    for key, what in (("crossover_detail", "label-noise crossover (mono overtakes poly)"),
                      ("input_noise_reversal_detail", "input-noise reversal")):
        lines.append(f"{what}: {cx.Crossover(**result[key]).describe()}")
    return "\n".join(lines)


@contextlib.contextmanager
def plugin_code(what: str):
    """Run plugin code isolated from the command: what it prints goes to stderr (so ``--json`` stdout stays one JSON
    document), ``sys.exit`` in it is one ConfigError line naming ``what`` instead of ending the command, and an
    exception from a registered criterion or noise model is one line too."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as e:
        raise ConfigError(f"{what} called sys.exit({e.code!r}); a plugin must not end the command") from None
    except (ConfigError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - only around plugin code (see main)
        raise ConfigError(f"{what} raised {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}") \
            from None


def main(args: argparse.Namespace) -> int:
    opts = from_namespace(TheoryOutput, args)
    plugins = list(opts.plugins)
    for spec in plugins:  # before the config is checked: they add the names --criterion may use
        with plugin_code(f"plugin = {spec!r}"):
            registry.load_plugin(spec)
    with plugin_code("an entry point of monotheory.plugins"):
        plugins += registry.load_entry_points()
    cfg = from_namespace(TheoryConfig, args)
    out = None if opts.out is None else check_out_dir(opts.out)  # before any work

    long = announce("theory", "--samples", cfg.samples, 1_000_000, MC_SECONDS_PER_MILLION, quiet=opts.quiet)
    progress = False if opts.quiet else (True if long else None)
    builtin = cfg.criterion in registry.BUILTIN_CRITERIA and cfg.noise_model in registry.BUILTIN_NOISE_MODELS
    if builtin:
        with contextlib.redirect_stdout(sys.stderr):  # a plugin loaded above may still print
            result = run(cfg, progress=progress)
    else:
        with plugin_code(f"criterion {cfg.criterion!r} / noise model {cfg.noise_model!r} (registered by a plugin)"):
            result = run(cfg, progress=progress)
    result["plugins"] = plugins
    paths = write_outputs(out, cfg, result) if out is not None else []
    if opts.json:
        print(json.dumps(to_jsonable(result), indent=2, allow_nan=False))
    else:
        print(table(result))
        if paths:
            print("wrote " + ", ".join(str(p) for p in paths))
    sys.stdout.flush()
    return 0
