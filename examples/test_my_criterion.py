"""Test your own variant of Theorem 4.2: run with ``PYTHONPATH=$PWD pytest examples/``."""

import my_criterion  # noqa: F401  (registers "sd_sum" = Δμ/(σ0 + σ1))
from hypothesis import given

from monotheory.testing import noise_rates, sparsities
from monotheory.theory import crossover, separability

pytest_plugins = ["monotheory.pytest_plugin"]  # the derandomised "ci" profile (automatic once installed)


@given(sparsities(), noise_rates("flip"))
def test_sd_sum_lies_between_the_fisher_bounds(s, eta):
    """(σ0 + σ1)² is between σ0² + σ1² and 2(σ0² + σ1²), so √(J/2) ≤ Δμ/(σ0 + σ1) ≤ √J (J = fisher)."""
    for f in ("mono", "poly"):
        c, j = separability("sd_sum", f, s, eta), separability("fisher", f, s, eta)
        assert (j / 2) ** 0.5 * (1 - 1e-12) <= c <= j**0.5 * (1 + 1e-12)


@given(sparsities(), noise_rates("flip"))
def test_poly_stays_at_least_as_separable_under_flip_noise(s, eta):
    """Claim: like fisher (Theorem 4.2's negative case), the scale-free Δμ/(σ0 + σ1) never lets mono pass."""
    mono, poly = (separability("sd_sum", f, s, eta) for f in ("mono", "poly"))
    assert poly >= mono * (1 - 1e-9)


def test_no_crossover_at_the_paper_sparsity():
    assert crossover("sd_sum", "flip", 0.2).value is None  # vs η* = 2/7 for the unnormalized criterion
