"""Hypothesis settings profiles: ``ci`` (the same examples every run) and ``explore`` (new ones each run).

``ci``: derandomised, 40 examples, no deadline (the exact SymPy paths are slow on a first, uncached call),
the failing example's reproduction blob printed, the too-slow health check off. ``explore``: the same
without derandomisation and with 400 examples, for hunting counterexamples locally. ``dev``: new examples
each run with ``ci``'s budget of 40 (the name the project's tests used before).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILES = {
    "ci": dict(derandomize=True, max_examples=40, print_blob=True, **_COMMON),
    "explore": dict(derandomize=False, max_examples=400, **_COMMON),
    "dev": dict(derandomize=False, max_examples=40, **_COMMON),
}
ENV = "HYPOTHESIS_PROFILE"


def register_profiles(load: bool = True, default: str = "ci") -> str | None:
    """Register :data:`PROFILES` with Hypothesis; with ``load``, load ``$HYPOTHESIS_PROFILE`` (else
    ``default``) and return its name. Safe to call more than once."""
    for name, kw in PROFILES.items():
        settings.register_profile(name, **kw)
    if not load:
        return None
    name = os.environ.get(ENV, default)
    settings.load_profile(name)  # an unknown name raises Hypothesis' InvalidArgument naming it
    return name
