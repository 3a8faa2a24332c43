"""Deprecated alias, kept for one release: ``monotheory.evaluate`` is now the package :mod:`monotheory.probe`
(``from monotheory.probe import ProfileConfig, profile_features``): :mod:`monotheory.probe.api`
(``profile_features``, ``profile_encoder``, ``profile_run``) and :mod:`monotheory.probe.config`
(:class:`ProfileConfig`); ``probe_grid`` is :mod:`monotheory.probes.grid`.

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

import warnings

from monotheory.probe import api, config
from monotheory.probes import grid

_MOVED = {
    "run_profile": api,
    "profile_features": api,
    "profile_encoder": api,
    "profile_run": api,
    "MONO_VIEWS": config,
    "DEFAULT_NOISE_RATES": config,
    "ProfileConfig": config,
    "allowed_noise_rates": config,
    "parse_mono": config,
    "view_name": config,
    "probe_grid": grid,
}


def __getattr__(name: str):
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} is deprecated: import it from {module.__name__} "
                  f"({__name__} goes away in the next release)", DeprecationWarning, stacklevel=2)
    return getattr(module, name)
