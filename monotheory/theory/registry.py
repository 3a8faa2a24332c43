"""Registries of separability criteria and label-noise models: the built-in ones and those users add.

A **criterion** is a function of the class moments given the (noisy) label: a dict with the keys ``pi0, pi1,
mu0, mu1, delta_mu, var0, var1`` (:data:`monotheory.theory.symbolic.KEYS`) whose values are floats, NumPy
arrays or SymPy expressions. Write it with arithmetic and :func:`sqrt` (which dispatches to SymPy or NumPy),
and it works on all three: SymPy gives exact crossovers (real roots of a polynomial numerator), floats give
the root search and the Monte Carlo estimate with its delta-method SE. Higher = more separable unless
``higher_is_better=False``. ``threshold_error`` is built in and numerical (no moment formula).

A **noise model** acts on the binary label y at a rate ``noise_rate`` η in [0, 1]. Give it as

* ``rates(noise_rate) -> (p10, p01)``: the label transition P(ỹ=0 | y=1), P(ỹ=1 | y=0) (SymPy-compatible); the
  noisy moments follow by mixing (:func:`monotheory.theory.symbolic.mix_moments`) and the Monte Carlo flips
  labels with these probabilities; or
* ``moments(m, noise_rate) -> dict``: any transition on the class moments (exact path only, unless a sampler
  is given); and/or
* ``sampler(y, noise_rate, rng) -> ỹ``: draws noisy labels for the Monte Carlo.

``upper`` is the default end of the crossover search, [0, upper) (1/2 for ``flip``: beyond it labels invert).

>>> register_criterion("ratio_demo", lambda m: m["delta_mu"] / (sqrt(m["var0"]) + sqrt(m["var1"])))
>>> "ratio_demo" in criterion_names()
True
>>> unregister_criterion("ratio_demo")
"""

from __future__ import annotations

import contextlib
import dataclasses
import keyword
import re
from collections.abc import Callable

import numpy as np
import sympy as sp

from monotheory.errors import ConfigError
from monotheory.noise import max_noise_rate, off_diagonal_rate

MOMENT_NAMES = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1")
BUILTIN_CRITERIA = ("fisher", "unnormalized", "threshold_error")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sqrt(x):
    """√x for SymPy expressions (exact, ``sympy.sqrt``) and for floats/arrays (``numpy.sqrt``)."""
    return sp.sqrt(x) if isinstance(x, sp.Basic) else np.sqrt(x)


@dataclasses.dataclass(frozen=True)
class Criterion:
    """A registered criterion: ``function(moments)`` (None for the numerical ``threshold_error``),
    ``higher_is_better``, ``symbolic`` (whether it evaluates on SymPy moments)."""

    name: str
    function: Callable | None
    higher_is_better: bool = True
    symbolic: bool = True
    description: str = ""

    def __call__(self, m: dict):
        if self.function is None:
            raise ConfigError(f"criterion = {self.name!r} has no moment formula (it is computed numerically)")
        return self.function(m)


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """A registered label-noise model (see the module docstring for ``rates``, ``moments``, ``sampler``)."""

    name: str
    rates: Callable | None = None
    moments: Callable | None = None
    sampler: Callable | None = None
    upper: float = 1.0
    description: str = ""


def _class_model_rates(model: str) -> Callable:
    """``rates(noise_rate)`` of a C-class model of :mod:`monotheory.noise` on binary labels: both wrong-label
    probabilities are :func:`~monotheory.noise.off_diagonal_rate` at C = 2 (η under flip, η/2 under uniform)."""
    def rates(noise_rate):
        p = off_diagonal_rate(model, noise_rate, 2)
        return p, p
    return rates


_CRITERIA: dict[str, Criterion] = {
    "fisher": Criterion("fisher", lambda m: m["delta_mu"] ** 2 / (m["var0"] + m["var1"]),
                        description="Δμ² / (σ0² + σ1²)"),
    "unnormalized": Criterion("unnormalized", lambda m: m["delta_mu"] / (m["var0"] + m["var1"]),
                              description="Δμ / (σ0² + σ1²)"),
    "threshold_error": Criterion("threshold_error", None, higher_is_better=False, symbolic=False,
                                 description="clean error of the best threshold fitted on noisy labels"),
}
# flip and uniform are monotheory.noise's C-class models at C = 2 (one definition for every layer); one_sided is
# binary only. Order: the built-ins as listed everywhere (BUILTIN_NOISE_MODELS).
_NOISE: dict[str, NoiseModel] = {
    "flip": NoiseModel("flip", rates=_class_model_rates("flip"), upper=max_noise_rate("flip", 2),
                       description="each label flips w.p. η"),
    "one_sided": NoiseModel("one_sided", rates=lambda e: (e, 0 * e), description="only 1 → 0, w.p. η"),
    "uniform": NoiseModel("uniform", rates=_class_model_rates("uniform"), upper=max_noise_rate("uniform", 2),
                          description="redrawn uniformly w.p. η (flip at η/2)"),
}
BUILTIN_NOISE_MODELS = tuple(_NOISE)


def _check_name(kind: str, name, table: dict) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(f"{kind} name = {name!r} is not a valid name; use letters, digits and _")
    if name in table:
        raise ConfigError(f"{kind} = {name!r} is already registered; unregister it first or pick another name")
    if name in MOMENT_NAMES or name in ("n_draws", "n_kept", "bin_width", "separability"):
        raise ConfigError(f"{kind} name = {name!r} is reserved (a moment or result key); pick another name")
    return name


# ------------------------------------------------------------------------------------------------- hooks
# This module is a leaf (it imports no other module of the theory). The modules built on it install what needs
# them: symbolic.py checks every new criterion on the exact moments and clears its moment cache when the noise
# models change. ``import monotheory.theory.registry`` runs ``monotheory/theory/__init__.py`` first, which imports
# symbolic.py, so the hooks are in place before any registration.

_CRITERION_CHECKS: list[Callable[[str, Callable], None]] = []
_NOISE_MODEL_LISTENERS: list[Callable[[], None]] = []


def add_criterion_check(check: Callable[[str, Callable], None]) -> None:
    """Run ``check(name, function)`` on every criterion registered from now on (it raises ConfigError to refuse)."""
    if check not in _CRITERION_CHECKS:
        _CRITERION_CHECKS.append(check)


def add_noise_model_listener(listener: Callable[[], None]) -> None:
    """Call ``listener()`` whenever a noise model is registered or removed."""
    if listener not in _NOISE_MODEL_LISTENERS:
        _NOISE_MODEL_LISTENERS.append(listener)


# ----------------------------------------------------------------------------------------------- criteria


def criterion_names() -> tuple[str, ...]:
    """All registered criteria, built-ins first."""
    return tuple(_CRITERIA)


def get_criterion(name) -> Criterion:
    """The criterion registered as ``name`` (ConfigError naming the choices if there is none)."""
    if name not in _CRITERIA:
        raise ConfigError(f"criterion = {name!r} is unknown; choose one of {', '.join(_CRITERIA)} "
                          "(or register one: monotheory.theory.registry.register_criterion; CLI: --plugin MODULE)")
    return _CRITERIA[name]


def moment_criteria() -> tuple[str, ...]:
    """The criteria with a moment formula (all but ``threshold_error``)."""
    return tuple(k for k, c in _CRITERIA.items() if c.function is not None)


def _symbolic_ok(function) -> bool:
    """Whether ``function`` maps SymPy moments to a SymPy expression (else only the root search is used)."""
    syms = {k: sp.Symbol(k, positive=k != "delta_mu") for k in MOMENT_NAMES}
    try:
        out = function(syms)
    except Exception:  # noqa: BLE001 - any failure means: not SymPy-compatible
        return False
    return isinstance(out, sp.Basic) and not isinstance(out, sp.logic.boolalg.Boolean)


def register_criterion(name: str, function: Callable, *, higher_is_better: bool = True,
                       description: str = "") -> None:
    """Register ``function(moments) -> value`` as criterion ``name`` (see the module docstring).

    Raises ConfigError if the name is taken or invalid, or if a check installed with :func:`add_criterion_check`
    refuses it (:mod:`monotheory.theory.symbolic`'s: the criterion must be finite on the valid range, both
    features, S ∈ [0, 0.95], flip noise η ∈ [0, 0.45], w = (1, 1)).
    """
    _check_name("criterion", name, _CRITERIA)
    if not callable(function):
        raise ConfigError(f"criterion {name!r}: function = {function!r} is not callable")
    for check in _CRITERION_CHECKS:
        check(name, function)
    _CRITERIA[name] = Criterion(name, function, bool(higher_is_better), _symbolic_ok(function), description)


def unregister_criterion(name: str) -> None:
    """Remove a user criterion (built-ins stay)."""
    get_criterion(name)
    if name in BUILTIN_CRITERIA:
        raise ConfigError(f"criterion = {name!r} is built in and cannot be unregistered")
    del _CRITERIA[name]


def evaluate(name: str, m: dict):
    """Criterion ``name`` on the moments ``m`` (floats, arrays or SymPy), NaN where a class is empty."""
    c = get_criterion(name)
    if isinstance(m.get("delta_mu"), sp.Basic):
        return c(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        return c(m)


def score(name: str, value):
    """Higher = more separable: the value, or minus it for a criterion where lower is better."""
    return np.asarray(value) if get_criterion(name).higher_is_better else -np.asarray(value)


# ------------------------------------------------------------------------------------------- noise models


def noise_model_names() -> tuple[str, ...]:
    """All registered noise models, built-ins first."""
    return tuple(_NOISE)


def get_noise_model(name) -> NoiseModel:
    """The noise model registered as ``name`` (ConfigError naming the choices if there is none)."""
    if name not in _NOISE:
        raise ConfigError(f"noise_model = {name!r} is unknown; choose one of {', '.join(_NOISE)} "
                          "(or register one: monotheory.theory.registry.register_noise_model; CLI: --plugin MODULE)")
    return _NOISE[name]


def register_noise_model(name: str, *, rates: Callable | None = None, moments: Callable | None = None,
                         sampler: Callable | None = None, upper: float = 1.0, description: str = "") -> None:
    """Register a label-noise model (give ``rates``, or ``moments`` and/or ``sampler``; see module docstring).

    ``rates`` must give probabilities in [0, 1] for η ∈ [0, 1]; ``upper`` in (0, 1] ends the default
    crossover search range [0, upper).
    """
    _check_name("noise_model", name, _NOISE)
    if rates is None and moments is None and sampler is None:
        raise ConfigError(f"noise_model {name!r}: give rates, moments or sampler")
    for what, f in (("rates", rates), ("moments", moments), ("sampler", sampler)):
        if f is not None and not callable(f):
            raise ConfigError(f"noise_model {name!r}: {what} = {f!r} is not callable")
    if isinstance(upper, bool) or not isinstance(upper, (int, float)) or not 0 < upper <= 1:
        raise ConfigError(f"noise_model {name!r}: upper = {upper!r} is outside (0, 1]")
    if rates is not None:
        grid = np.linspace(0.0, 1.0, 21)
        try:
            p = np.broadcast_to(np.asarray(rates(grid), dtype=float), (2, grid.size))
        except Exception as e:  # noqa: BLE001
            raise ConfigError(f"noise_model {name!r}: rates(noise_rate) fails on an array of rates "
                              f"({type(e).__name__}: {e}); it must return (p10, p01)") from None
        if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
            raise ConfigError(f"noise_model {name!r}: rates(noise_rate) leaves [0, 1] for some noise_rate in [0, 1]")
    _NOISE[name] = NoiseModel(name, rates, moments, sampler, float(upper), description)
    _clear_caches()


def _clear_caches() -> None:
    """Tell every listener that the noise models changed (the exact moments are cached by noise-model name: a name
    that changes meaning must not hit the cache)."""
    for listener in _NOISE_MODEL_LISTENERS:
        listener()


def unregister_noise_model(name: str) -> None:
    """Remove a user noise model (built-ins stay)."""
    get_noise_model(name)
    if name in BUILTIN_NOISE_MODELS:
        raise ConfigError(f"noise_model = {name!r} is built in and cannot be unregistered")
    del _NOISE[name]
    _clear_caches()


@contextlib.contextmanager
def scoped():
    """Registrations made inside ``with scoped():`` are undone at its end (for tests)."""
    crit, noise = dict(_CRITERIA), dict(_NOISE)
    try:
        yield
    finally:
        _CRITERIA.clear()
        _CRITERIA.update(crit)
        _NOISE.clear()
        _NOISE.update(noise)
        _clear_caches()


# ------------------------------------------------------------------------------------------------ plugins

ENTRY_POINT_GROUP = "monotheory.plugins"
_LOADED: dict[str, object] = {}


def load_plugin(spec: str):
    """Import a plugin that registers criteria or noise models: a module name (``my_pkg.criteria``, found
    on ``sys.path``/PYTHONPATH) or a path to a ``.py`` file. Each is imported once per process."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"plugin = {spec!r} is not a module name or a .py file")
    if spec in _LOADED:
        return _LOADED[spec]
    try:
        if spec.endswith(".py") or "/" in spec or "\\" in spec:
            path = Path(spec).resolve()
            if path.is_dir():
                raise ConfigError(f"plugin = {spec!r} is a folder, not a .py file or a module name")
            if path.is_file() and path.suffix != ".py":
                raise ConfigError(f"plugin = {spec!r} is not a .py file")
            if not path.is_file():
                raise ConfigError(f"plugin = {spec!r}: no such file")
            name = f"monotheory_plugin_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - one sentence instead of a traceback
        raise ConfigError(f"plugin = {spec!r} could not be imported ({type(e).__name__}: {e})") from None
    _LOADED[spec] = module
    return module


def load_entry_points() -> list[str]:
    """Load every installed plugin of the entry-point group ``monotheory.plugins`` (a module, or a callable
    that is then called with no arguments); returns their names."""
    from importlib.metadata import entry_points

    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry point {ep.name} = {ep.value}"
        if key in _LOADED:
            continue
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001
            raise ConfigError(f"plugin entry point {ep.name!r} ({ep.value}) failed ({type(e).__name__}: {e})") from None
        _LOADED[key] = obj
        names.append(ep.name)
    return names
