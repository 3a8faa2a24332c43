"""Config dataclasses → command-line options, and the validators every layer shares.

Every model or experiment has a dataclass config whose ``check()`` raises :class:`ConfigError` with one
sentence. :func:`add_dataclass_arguments` turns such a class into argparse options (``sparsity`` →
``--sparsity``), so the CLI and the Python API cannot drift apart, and :func:`to_dict` is what gets saved
beside every result.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any

from monotheory.errors import ConfigError

# ----------------------------------------------------------------------------------------------- validators


def _fmt(x: Any) -> str:
    return repr(x) if isinstance(x, str) else str(x)


def check_number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, or raise ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ConfigError(f"{name} = {_fmt(value)} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{name} = {_fmt(value)} is not a finite number")
    return v


def check_range(name: str, value: Any, lo: float, hi: float, *, lo_closed: bool = True,
                hi_closed: bool = True) -> float:
    """Check ``lo ≤ value ≤ hi`` (ends open or closed as asked) and return the value as a float.

    >>> check_range("noise_rate", 0.3, 0, 1)
    0.3
    >>> check_range("sparsity", 1.0, 0, 1, hi_closed=False)
    Traceback (most recent call last):
    ...
    monotheory.errors.ConfigError: sparsity = 1.0 is outside [0, 1)
    """
    v = check_number(name, value)
    ok_lo = v >= lo if lo_closed else v > lo
    ok_hi = v <= hi if hi_closed else v < hi
    if not (ok_lo and ok_hi):
        interval = f"{'[' if lo_closed else '('}{_num(lo)}, {_num(hi)}{']' if hi_closed else ')'}"
        raise ConfigError(f"{name} = {_fmt(value)} is outside {interval}")
    return v


def _num(x: float) -> str:
    if x == math.inf:
        return "inf"
    return str(int(x)) if float(x).is_integer() else str(x)


def check_probability(name: str, value: Any) -> float:
    """A rate in [0, 1] (noise rates, fractions)."""
    return check_range(name, value, 0.0, 1.0)


def check_sparsity(name: str, value: Any) -> float:
    """A sparsity S = P(feature is zero) in [0, 1): S = 1 would make every feature identically zero."""
    return check_range(name, value, 0.0, 1.0, hi_closed=False)


def check_nonnegative(name: str, value: Any) -> float:
    """A scale such as σ or λ: finite and ≥ 0."""
    v = check_number(name, value)
    if v < 0:
        raise ConfigError(f"{name} = {_fmt(value)} is negative; it must be ≥ 0")
    return v


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer count ≥ ``minimum`` (and ≤ ``maximum`` when given)."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise ConfigError(f"{name} = {_fmt(value)} is not an integer") from None
    v = int(value)
    if v < minimum:
        raise ConfigError(f"{name} = {v} must be ≥ {minimum}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"{name} = {v} must be ≤ {maximum}")
    return v


def check_unique(name: str, values: Iterable) -> tuple:
    """A list option's values, each given once (a repeated value would repeat a cell of the grid silently).

    >>> check_unique("noise_rates", (0.0, 0.3, 0.3))
    Traceback (most recent call last):
    ...
    monotheory.errors.ConfigError: noise_rates = 0,0.3,0.3 lists 0.3 twice; give each value once
    """
    values = tuple(values)
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{name} = {','.join(_item(x) for x in values)} lists {_item(v)} twice; give each value "
                              "once")
        seen.add(v)
    return values


def _item(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def as_tuple(name: str, values: Any, item: type = float) -> tuple:
    """``values`` (a list, tuple or array of ``item``) as a tuple; a string, a scalar or a value that is not an
    ``item`` is refused naming the value (an API caller's ``noise_rates="0.3"`` is not three characters)."""
    what = {float: "number", int: "integer", str: "name"}.get(item, item.__name__)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"{name} = {_fmt(values)} is not a list of {what}s; give a tuple such as ({item(0)!r},)")
    out = []
    for v in values:
        try:
            ok = isinstance(v, str) if item is str else (
                not isinstance(v, (str, bytes, bool)) and (item is not int or float(v).is_integer()))
            out.append(item(v) if ok else None)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{name} holds {_fmt(v)}, which is not a{'n' if what[0] in 'aeiou' else ''} {what}")
    return tuple(out)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of a fixed set of names (criteria, noise models, regimes …)."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{name} = {_fmt(value)} is unknown; choose one of {', '.join(choices)}")
    return value


# ------------------------------------------------------------------------------------- dataclass ↔ argparse


def to_dict(cfg: Any) -> dict:
    """A config as a JSON-ready dict (tuples become lists), with its class name under ``"_type"``."""
    d = dataclasses.asdict(cfg)
    d["_type"] = type(cfg).__name__
    return d


def _split(text: str, item: type) -> tuple:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:  # an empty list would silently fall back to the preset's list
        raise argparse.ArgumentTypeError(f"{text!r} is an empty list; give at least one {item.__name__} value")
    try:
        values = tuple(item(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of {item.__name__} values") from None
    try:  # every list option: each value once (issue 23)
        return check_unique(repr(text), values)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e).replace(f"{text!r} = {','.join(map(_item, values))} ", f"{text!r} ")) \
            from None


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


# Field metadata read by add_dataclass_arguments (every key optional):
#   help        the option's help text
#   choices     the allowed values (argparse checks them)
#   flag        the option's name when it differs from the field's (``out_dir`` → ``--out``)
#   metavar     what the help shows for the value
#   default     the command line's default of a field the dataclass requires (``--out results``)
#   required    the option must be given (a field whose dataclass default is None, e.g. ``--sparsity``)
#   repeat      a tuple field whose option is given once per item (``--plugin A --plugin B``), not as A,B
#   deprecated  the field is an old name kept for one release: a hidden option that says this text on stderr
#   cli         False: no option for this field
#   shown       the default as the help states it, when the field's default is a stand-in (None = a computed grid)
#   renamed_from  the field's old name: its option (``--seeds`` of ``n_seeds``) stays one release as a hidden alias
#               that names the new option on stderr (the old keyword: :func:`monotheory.deprecation.renamed_fields`)
METADATA_KEYS = ("help", "choices", "flag", "metavar", "default", "required", "repeat", "deprecated", "cli", "shown",
                 "renamed_from")


class _Deprecated(argparse.Action):
    """Stores the value like ``store`` and says once, on stderr, that the option is deprecated (and what replaces
    it); hidden from ``--help``."""

    def __init__(self, option_strings, dest, message: str = "", convert=None, **kw):
        self.message, self.convert = message, convert
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated and will be removed: {self.message}",
              file=sys.stderr)
        setattr(namespace, self.dest, self.convert(values) if self.convert else values)


def option_name(f: dataclasses.Field, prefix: str = "") -> str:
    """The command-line option of a config field: ``--`` + prefix + (metadata ``flag`` or the field name, ``_`` →
    ``-``)."""
    return "--" + prefix + f.metadata.get("flag", f.name).replace("_", "-")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, exclude: Iterable[str] = (),
                            prefix: str = "") -> None:
    """Add one ``--option`` per field of dataclass ``cls`` (fields with ``metadata={"cli": False}`` excepted).

    Help text comes from ``field(metadata={"help": ...})`` (the other keys: :data:`METADATA_KEYS`); ``bool``
    fields become ``--x/--no-x``; ``tuple[float, ...]`` fields take comma-separated lists (``--noise-rates
    0,0.3,0.9``), or one item per use with ``repeat``. Defaults are left as ``None`` in argparse (but for the
    ``default`` of a required field) so :func:`from_namespace` can tell what the user set.
    """
    hints = typing.get_type_hints(cls)
    exclude = set(exclude)
    required = None  # the group "required arguments" of the help, made when a field needs it
    for f in dataclasses.fields(cls):
        if f.name in exclude or f.name.startswith("_") or not f.init or f.metadata.get("cli", True) is False:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        target = parser
        if f.metadata.get("required"):
            required = required or parser.add_argument_group("required arguments")
            target = required
        opt = option_name(f, prefix)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else f.metadata.get("default"))
        help_ = f.metadata.get("help", "")
        shown = f.metadata.get("shown", ",".join(map(str, default)) if isinstance(default, tuple) else default)
        if not (f.metadata.get("required") or f.metadata.get("repeat")):
            help_ = f"{help_} (default: {shown})" if help_ else f"default: {shown}"
        kw: dict[str, Any] = dict(dest=prefix.replace("-", "_") + f.name, default=f.metadata.get("default"),
                                  help=help_)
        if f.metadata.get("required"):
            kw["required"] = True
        if "deprecated" in f.metadata:
            kw.update(help=argparse.SUPPRESS, action=_Deprecated, message=f.metadata["deprecated"])
        if "renamed_from" in f.metadata:
            _add_renamed_alias(target, f, tp, opt, prefix, kw["dest"])
        if tp is bool and "deprecated" not in f.metadata:
            target.add_argument(opt, action=argparse.BooleanOptionalAction, **kw)
            continue
        if typing.get_origin(tp) is tuple:
            item = typing.get_args(tp)[0]
            if f.metadata.get("repeat"):
                target.add_argument(opt, action="append", type=item, metavar=f.metadata.get("metavar", "VALUE"),
                                    **kw)
                continue
            split = lambda s, item=item: _split(s, item)  # noqa: E731
            if "deprecated" in f.metadata:
                kw["convert"] = split
                split = str
            target.add_argument(opt, type=split, metavar=f.metadata.get("metavar", "A,B,..."), **kw)
            continue
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        target.add_argument(opt, type=tp if tp in (int, float, str) else str,
                            metavar=f.metadata.get("metavar", f.name.upper()), **kw)


def _add_renamed_alias(target, f: dataclasses.Field, tp: Any, opt: str, prefix: str, dest: str) -> None:
    """The hidden old option of a renamed field (metadata ``renamed_from``): same destination, same conversion,
    one warning line naming ``opt``."""
    alias = "--" + prefix + f.metadata["renamed_from"].replace("_", "-")
    if tp is bool or f.metadata.get("repeat"):
        raise TypeError(f"renamed_from supports value options, not {alias} ({tp})")
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        kw: dict[str, Any] = dict(type=str, convert=lambda s: _split(s, item))
    else:
        kw = dict(type=tp if tp in (int, float, str) else str)
    target.add_argument(alias, dest=dest, default=None, help=argparse.SUPPRESS, action=_Deprecated,
                        message=f"use {opt}", **kw)


def given_values(cls: type, ns: argparse.Namespace, *, prefix: str = "", exclude: Iterable[str] = ()) -> dict:
    """``{field: value}`` of the options of ``cls`` (added by :func:`add_dataclass_arguments` with ``prefix``) that
    the user gave; fields not given are left out (so a preset or the dataclass default applies). A ``repeat``
    option's list becomes a tuple."""
    exclude = set(exclude)
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude:
            continue
        v = getattr(ns, prefix.replace("-", "_") + f.name, None)
        if v is not None:
            out[f.name] = tuple(v) if f.metadata.get("repeat") else v
    return out


def from_namespace(cls: type, ns: argparse.Namespace, *, prefix: str = "", **overrides: Any):
    """Build ``cls`` from parsed options: fields the user did not give keep the dataclass default."""
    return cls(**{**given_values(cls, ns, prefix=prefix), **overrides})


def given_options(cls: type, ns: argparse.Namespace, *, prefix: str = "") -> list[str]:
    """The options of ``cls`` the user gave, as typed (``--noise-rates``), in field order."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return [option_name(fields[name], prefix) for name in given_values(cls, ns, prefix=prefix)]


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, else the machine's count): how many
    threads the Monte Carlo's draw/kernel overlap and the toy trainer share their work over."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
