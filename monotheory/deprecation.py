"""Deprecated import paths, kept for one release: one mechanism for every alias module.

An alias module (``monotheory.report``, ``.checks``, ``.evaluate``, ``.profile``) sets
``__getattr__ = moved(__name__, {name: new_module, …})``; every moved name still imports from the old path and
warns (``DeprecationWarning``) with the new one. Names listed nowhere raise ``AttributeError`` as usual.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType


def moved(alias: str, names: dict[str, ModuleType]) -> Callable[[str], object]:
    """The module-level ``__getattr__`` of the alias module ``alias``: ``names`` maps each moved name to its new
    module."""

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {alias!r} has no attribute {name!r}")
        warnings.warn(f"{alias}.{name} is deprecated: import it from {module.__name__} ({alias} goes away in the "
                      "next release)", DeprecationWarning, stacklevel=2)
        return getattr(module, name)

    return __getattr__
