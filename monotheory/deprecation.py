"""Deprecated names, kept for one release: one mechanism for every alias module, one for renamed config fields.

An alias module (``monotheory.report``, ``.checks``, ``.evaluate``, ``.profile``) sets
``__getattr__ = moved(__name__, {name: new_module, …})``; every moved name still imports from the old path and
warns (``DeprecationWarning``) with the new one. Names listed nowhere raise ``AttributeError`` as usual.

A config dataclass whose fields were renamed is decorated with ``@renamed_fields({old: new, …})``: the old
keyword (``ProfileConfig(seeds=3)``) and the old attribute (``cfg.seeds``) still work and warn with the new name.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from types import ModuleType

from monotheory.errors import ConfigError


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


def renamed_fields(renames: dict[str, str]) -> Callable[[type], type]:
    """A class decorator for a dataclass whose fields ``renames`` maps old name → new name: ``cls(old=v)`` builds
    ``cls(new=v)`` and ``obj.old`` reads ``obj.new``, each with a ``DeprecationWarning`` naming the new field
    (for one release). Giving both names is a :class:`ConfigError`. The fields themselves (``dataclasses.asdict``,
    saved configs, options) carry only the new names."""

    def decorate(cls: type) -> type:
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise ConfigError(f"{cls.__name__}: {old} = {kwargs[old]!r} and {new} = {kwargs[new]!r} are both "
                                      f"given; {old} is the deprecated name of {new}, give {new} only")
                warnings.warn(f"{cls.__name__}({old}=...) is deprecated: use {new}=... ({old} goes away in the next "
                              "release)", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        for old, new in renames.items():
            setattr(cls, old, _renamed_attribute(cls.__name__, old, new))
        return cls

    return decorate


def _renamed_attribute(owner: str, old: str, new: str) -> property:
    def get(self):
        warnings.warn(f"{owner}.{old} is deprecated: read {owner}.{new} ({old} goes away in the next release)",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated name of ``{new}`` (one release).")
