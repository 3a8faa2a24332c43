"""Deprecated alias, kept for one release: ``monotheory.profile`` is now :mod:`monotheory.probe.profile`.

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

import warnings

from monotheory.probe import profile

_MOVED = {
    "Profile": profile,
    "feature_measures": profile,
}


def __getattr__(name: str):
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} is deprecated: import it from {module.__name__} "
                  f"({__name__} goes away in the next release)", DeprecationWarning, stacklevel=2)
    return getattr(module, name)
