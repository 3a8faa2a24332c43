"""Deprecated alias, kept for one release: ``monotheory.evaluate`` is now the package :mod:`monotheory.probe`
(``from monotheory.probe import ProfileConfig, profile_features``): :mod:`monotheory.probe.api`
(``profile_features``, ``profile_encoder``, ``profile_run``) and :mod:`monotheory.probe.config`
(:class:`ProfileConfig`); ``probe_grid`` is :mod:`monotheory.probes.grid`.

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

from monotheory.deprecation import moved
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


__getattr__ = moved(__name__, _MOVED)
