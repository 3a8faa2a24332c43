"""Long runs announce themselves: one line with an estimate before a run far beyond the defaults, and tqdm
settings that give a progress line at least every ~30 s when stderr is not a terminal (a log file, a CI job).

Imports nothing heavy (no torch, no tqdm at load time), so the theory layer may use it.
"""

from __future__ import annotations

import sys

NON_TTY_INTERVAL = 25.0  # seconds between progress lines in a log (< 30 s, so a line comes at least that often)
LONG_FACTOR = 10.0  # a run this many times the default size gets an announcement


def is_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def tqdm_kwargs(stream=None) -> dict:
    """Keyword arguments for ``tqdm``: on a terminal the usual live bar; elsewhere one line every
    :data:`NON_TTY_INTERVAL` seconds at most (``mininterval``) in plain ASCII, so logs stay readable."""
    stream = sys.stderr if stream is None else stream
    if is_terminal(stream):
        return {"file": stream}
    return {"file": stream, "mininterval": NON_TTY_INTERVAL, "maxinterval": NON_TTY_INTERVAL, "ascii": True,
            "ncols": 100}


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    if seconds < 3.2e8:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3.15e7:.3g} years"


def announce(command: str, option: str, value: float, default: float, default_seconds: float | None = None,
             *, factor: float = LONG_FACTOR, stream=None, quiet: bool = False) -> bool:
    """Print one line on stderr when ``value`` is more than ``factor`` × ``default``; return whether it did.

    ``default_seconds``: roughly what the part of the run that grows with ``option`` takes at the default size
    (e.g. the Monte Carlo draws, not the fixed start-up), so the estimate ``value / default × default_seconds`` is
    right for a huge value; None when not known (then only the ratio is given). ``quiet`` (``--quiet``): the line
    says that no progress lines follow, instead of promising them. Example line::

        monotheory theory: --samples 1e+12 is 1e+06× the default (1e+06); estimated time ≈ 13.9 h (linear in
        --samples: about 0.05 s at the default on a 2-core CPU); progress on stderr every 25 s; Ctrl-C stops it
    """
    if not value or not default or value <= factor * default:
        return False
    ratio = value / default
    est = (f"estimated time ≈ {_duration(ratio * default_seconds)} (linear in {option}: about "
           f"{_duration(default_seconds)} at the default on a 2-core CPU)") if default_seconds else \
        f"time grows in proportion to {option}"
    stream = sys.stderr if stream is None else stream
    then = ("no progress lines follow (--quiet): nothing more is printed until it ends" if quiet else
            f"progress on stderr every {NON_TTY_INTERVAL:.0f} s")
    print(f"monotheory {command}: {option} {value:g} is {ratio:.3g}× the default ({default:g}); {est}; {then}; "
          "Ctrl-C stops it", file=stream, flush=True)
    return True
