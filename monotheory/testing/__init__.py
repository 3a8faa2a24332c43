"""Property-based tests of theorem variants: Hypothesis strategies, a z·SE assertion, derandomised profiles.

Needs Hypothesis (``pip install 'monotheory[testing]'``); imports no torch. Use it with the registries of
:mod:`monotheory.theory.registry` to test your own criterion or noise model (README: "Test your own variant
of Theorem 4.2"; ``examples/test_my_criterion.py``).

* Strategies (:mod:`monotheory.testing.strategies`): :func:`sparsities`, :func:`rationals`,
  :func:`noise_rates`, :func:`noise_models`, :func:`weights`, :func:`sigmas`, :func:`data_model_params`.
  Each documents its default range, which avoids the degenerate corners (S → 1, labels that carry no
  information, vanishing or huge weights) unless asked.
* :func:`assert_agrees` (exact value vs an estimate with its SE, z from a false-alarm budget with Bonferroni
  across estimands) and :func:`z_value`; :func:`monte_carlo_difference` (mono − poly score from Monte Carlo,
  with its SE: zero at an exact crossover).
* Hypothesis profiles ``ci`` (derandomised) and ``explore`` (:func:`register_profiles`); the pytest plugin
  :mod:`monotheory.pytest_plugin` registers them and loads ``$HYPOTHESIS_PROFILE`` (default ``ci``).
"""

try:
    import hypothesis  # noqa: F401
except ImportError as e:  # one clear line instead of an error deep inside a strategy
    raise ImportError("monotheory.testing needs Hypothesis, which is not installed: "
                      "pip install 'monotheory[testing]' (or pip install hypothesis)") from e

from monotheory.testing.assertions import assert_agrees, monte_carlo_difference, z_value
from monotheory.testing.profiles import PROFILES, register_profiles
from monotheory.testing.strategies import (
    data_model_params,
    noise_models,
    noise_rates,
    rationals,
    sigmas,
    sparsities,
    weights,
)

__all__ = ["PROFILES", "assert_agrees", "data_model_params", "monte_carlo_difference", "noise_models",
           "noise_rates", "rationals", "register_profiles", "sigmas", "sparsities", "weights", "z_value"]
