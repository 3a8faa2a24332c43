"""Deprecated alias, kept for one release: ``monotheory.profile`` is now :mod:`monotheory.probe.profile`.

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

from monotheory.deprecation import moved
from monotheory.probe import profile

_MOVED = {
    "Profile": profile,
    "feature_measures": profile,
}


__getattr__ = moved(__name__, _MOVED)
