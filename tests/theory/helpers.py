"""Shared by the theory tests: an exact-vs-MC comparison of many keys.

Every Monte Carlo test allows a false alarm with probability at most ``monotheory.testing.assertions.FALSE_ALARM``
(10⁻³) per test function; a test making m two-sided comparisons uses z = ``monotheory.testing.z_value(m)``
= Φ⁻¹(1 − 10⁻³/(2m)) (Bonferroni).
"""

from __future__ import annotations

import math


def mc_disagreements(exact: dict, mc: dict, keys, z: float) -> list[str]:
    """The keys whose |MC − exact| exceeds z·SE (an empty list means agreement).

    A NaN on either side, or an SE that is not positive, counts as a disagreement: it must not pass silently."""
    bad = []
    for k in keys:
        est, se = mc[k]
        if not (math.isfinite(est) and math.isfinite(exact[k]) and math.isfinite(se) and se > 0):
            bad.append(f"{k}: exact {exact[k]}, MC {est} ± {se} (not finite / SE not positive)")
        elif abs(est - exact[k]) > z * se:
            bad.append(f"{k}: exact {exact[k]:.6g}, MC {est:.6g} ± {se:.2g} (z = {(est - exact[k]) / se:.1f})")
    return bad
