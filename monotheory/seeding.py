"""Named random streams: the one way every layer turns a seed into random number generators.

A stream is a base ``seed`` plus a path of names (strings or non-negative integers), e.g.
``stream_seed(0, "toy", "probe-data", 3)``. The path becomes NumPy's ``SeedSequence`` spawn key, so two
different paths give independent streams and no arithmetic on seeds is ever needed (arithmetic mixing such as
``seed + round(1000 * rate)`` collides: (seed 0, rate 0.3) and (seed 300, rate 0) would share a stream).

>>> stream_seed(0, "probe") == stream_seed(0, "probe")
True
>>> stream_seed(0, "probe") != stream_seed(0, "train")
True
>>> generator(1, "noise", 2).integers(0, 10, 3).tolist() == generator(1, "noise", 2).integers(0, 10, 3).tolist()
True
"""

from __future__ import annotations

import hashlib
import numbers
import sys
from typing import Any

import numpy as np

from monotheory.errors import ConfigError

Name = str | int


def _key(name: Name) -> int:
    """A name as a 32-bit-safe integer of the spawn key (strings through SHA-256, stable across runs)."""
    if isinstance(name, bool):
        raise ConfigError(f"stream name {name!r} is a bool; use a string or a non-negative integer")
    if isinstance(name, numbers.Integral):
        if int(name) < 0:
            raise ConfigError(f"stream name {int(name)} is negative; integers in a stream path must be ≥ 0")
        # integers and strings live in disjoint halves of the key space, so 3 and "3" differ
        return 2 * int(name)
    if isinstance(name, str):
        return 2 * int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") + 1
    raise ConfigError(f"stream name {name!r} is a {type(name).__name__}; use a string or a non-negative integer")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed = {seed!r} is not an integer")
    if int(seed) < 0:
        raise ConfigError(f"seed = {int(seed)} is negative; it must be ≥ 0")
    return int(seed)


def seed_sequence(seed: int, *names: Name) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream ``names`` under ``seed``."""
    return np.random.SeedSequence(_check_seed(seed), spawn_key=tuple(_key(n) for n in names))


def stream_seed(seed: int, *names: Name) -> int:
    """A 63-bit integer seed for the stream ``names`` under ``seed`` (for APIs that take an int, e.g. torch)."""
    return int(seed_sequence(seed, *names).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


def generator(seed: int, *names: Name) -> np.random.Generator:
    """A NumPy ``Generator`` (PCG64) for the stream ``names`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *names)))


def torch_generator(seed: int, *names: Name, device: Any = "cpu"):
    """A ``torch.Generator`` on ``device`` for the stream ``names`` under ``seed`` (imports torch lazily)."""
    import torch

    return torch.Generator(device=device).manual_seed(stream_seed(seed, *names))


def _torch_generator_type():
    """``torch.Generator`` if torch is already imported, else None: an object cannot be a torch Generator
    before torch is loaded, so the converters never import torch to find out."""
    torch = sys.modules.get("torch")
    return getattr(torch, "Generator", None)


def _is_torch_generator(random_state: Any) -> bool:
    cls = _torch_generator_type()
    return cls is not None and isinstance(random_state, cls)


def _bad_random_state(random_state: Any) -> ConfigError:
    return ConfigError(f"seed = {random_state!r} is not an int, numpy Generator, torch Generator or None")


def as_generator(random_state: Any = None) -> np.random.Generator:
    """A NumPy Generator from ``random_state`` (scikit-learn's convention, and the one RNG converter of every
    layer): ``None`` (fresh entropy), an int ≥ 0 (the stream of that seed with no names, which is
    ``numpy.random.default_rng(seed)``), a NumPy Generator (returned as is) or a ``torch.Generator`` (consumed
    once: a 62-bit seed is drawn from it, so results stay reproducible).

    >>> bool(as_generator(3).integers(100) == as_generator(3).integers(100))
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if _is_torch_generator(random_state):
        import torch

        draw = torch.randint(0, 2**62, (1,), generator=random_state, device=random_state.device)
        return generator(int(draw.item()))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise _bad_random_state(random_state)
    return generator(_check_seed(random_state))


def as_torch_generator(random_state: Any = None, device: Any = "cpu"):
    """A ``torch.Generator`` on ``device`` from ``random_state``: a torch Generator (returned as is), an int
    ≥ 0 (``manual_seed(seed)``, as ``torch.manual_seed`` would), a NumPy Generator (one 62-bit seed is drawn
    from it) or ``None`` (fresh entropy). Imports torch lazily."""
    import torch

    if isinstance(random_state, torch.Generator):
        return random_state
    gen = torch.Generator(device=device)
    if random_state is None:
        gen.seed()
    elif isinstance(random_state, np.random.Generator):
        gen.manual_seed(int(random_state.integers(0, 2**62)))
    elif isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise _bad_random_state(random_state)
    else:
        gen.manual_seed(_check_seed(random_state))
    return gen


def as_seed(random_state: Any = None, *names: Name) -> int:
    """An integer seed from ``random_state`` (None, int or Generator), for APIs such as ``torch.manual_seed``.

    An int gives the stream ``names`` under it; a Generator gives a fresh draw from it (and advances it);
    ``None`` gives fresh entropy.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    return stream_seed(_check_seed(random_state), *names)
