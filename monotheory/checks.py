"""Deprecated alias, kept for one release: ``monotheory.checks`` is now :mod:`monotheory.claims.runner` (the check
runner, :class:`CheckContext`) and :mod:`monotheory.cli.check` (``script_main``, the ``monotheory check`` command).

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

from monotheory.claims import runner
from monotheory.cli import check
from monotheory.deprecation import moved

_MOVED = {
    "EXTRAS": runner,
    "missing_extra": runner,
    "CheckContext": runner,
    "default_checks_dir": runner,
    "discover": runner,
    "load_check": runner,
    "claim_id": runner,
    "run_check": runner,
    "library_sha256": runner,
    "check_key": runner,
    "select_scripts": runner,
    "load_part": runner,
    "verdicts_of_parts": runner,
    "run_checks": runner,
    "script_main": check,
    "add_arguments": check,
    "main": check,
}


__getattr__ = moved(__name__, _MOVED)
