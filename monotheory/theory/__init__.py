"""The two-feature theory of the paper (Section 4.3, Appendix B): exact, symbolic and Monte Carlo.

Imports only NumPy, SciPy and SymPy (tqdm lazily inside long Monte Carlo runs). Conventions:
``sparsity`` S = P(feature is zero), features x_i = 0 w.p. S else U[0, 1]; y = 1 iff x1 is the strict
argmax; ν_mono = x1, ν_poly = w1·x1 − w2·x2. See :mod:`monotheory.theory.datamodel`.

Modules: ``datamodel`` (sampling, labels, ties, noise), ``symbolic`` (SymPy moments), ``distributions``
(exact class CDFs, best-threshold error), ``separation`` (criteria vs noise, crossover points),
``montecarlo`` (streamed estimates with SEs), ``theorems`` (Theorem 4.1, 4.2, Appendix B.3); ``registry``
(the criteria and noise models, built-in and user-registered; a leaf). The command is :mod:`monotheory.cli.theory`.
"""

from monotheory.theory.datamodel import (
                                         NOISE_MODELS,
                                         REGIMES,
                                         TIE_RULES,
                                         SpikeUniform,
                                         mono_feature,
                                         noisy_labels,
                                         poly_feature,
)
from monotheory.theory.distributions import class_cdfs, threshold_error, threshold_errors
from monotheory.theory.montecarlo import monte_carlo, monte_carlo_moments
from monotheory.theory.separation import (
                                         CRITERIA,
                                         Crossover,
                                         crossover,
                                         input_noise_reversal,
                                         separability,
                                         separability_curve,
)
from monotheory.theory.symbolic import mix_moments, moments, symbolic_criterion, symbolic_moments
from monotheory.theory.theorems import appendix_b3, theorem_4_1, theorem_4_2

__all__ = ["CRITERIA", "Crossover", "REGIMES", "NOISE_MODELS", "SpikeUniform", "TIE_RULES", "appendix_b3",
           "class_cdfs", "crossover", "input_noise_reversal", "mix_moments", "moments", "mono_feature",
           "monte_carlo", "monte_carlo_moments", "noisy_labels", "poly_feature", "separability",
           "separability_curve", "symbolic_criterion", "symbolic_moments", "theorem_4_1", "theorem_4_2",
           "threshold_error", "threshold_errors"]
