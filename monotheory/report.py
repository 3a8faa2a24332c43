"""Deprecated alias, kept for one release: ``monotheory.report`` is split into :mod:`monotheory.files` (atomic
writes, ``to_jsonable``, ``check_out_dir``, manifests) and :mod:`monotheory.claims.verdict` (:class:`Verdict`, the
statuses, the verdict tables).

Every name still imports from here and warns (``DeprecationWarning``) with its new path.
"""

from monotheory import files
from monotheory.claims import verdict
from monotheory.deprecation import moved

_MOVED = {
    "to_jsonable": files,
    "TEMP_SUFFIX": files,
    "atomic_write_bytes": files,
    "atomic_torch_save": files,
    "remove_stale_temps": files,
    "check_out_dir": files,
    "atomic_write_text": files,
    "atomic_write_json": files,
    "MANIFEST": files,
    "sha256_file": files,
    "manifest_files": files,
    "write_manifest": files,
    "REPRODUCED": verdict,
    "PARTLY": verdict,
    "NOT_REPRODUCED": verdict,
    "SKIPPED": verdict,
    "ERROR": verdict,
    "INCONCLUSIVE": verdict,
    "NOT_A_TEST": verdict,
    "STATUSES": verdict,
    "Verdict": verdict,
    "skipped": verdict,
    "verdicts_markdown": verdict,
    "relative_figures": verdict,
    "write_verdicts": verdict,
}


__getattr__ = moved(__name__, _MOVED)
