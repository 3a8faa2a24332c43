"""Result files: JSON-ready values, atomic writes, output-folder checks and manifests.

Every file is written atomically (temporary file + ``os.replace``) so an interrupted run never leaves half a
result; :func:`remove_stale_temps` clears what an interrupted run left. :func:`write_manifest` records the
SHA-256 of every result file of a folder (``monotheory verify`` checks it). The verdict rows and their tables
are in :mod:`monotheory.claims.verdict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from monotheory.errors import ConfigError


def to_jsonable(obj: Any) -> Any:
    """Turn numpy / torch scalars and arrays, tuples, Paths and dataclasses into plain JSON types.

    Non-finite floats become ``None`` (JSON has no NaN); tensors are moved to CPU first.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "detach"):  # torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if hasattr(obj, "tolist"):  # numpy array or scalar
        return to_jsonable(obj.tolist())
    if hasattr(obj, "__float__"):  # sympy numbers and the like
        return to_jsonable(float(obj))
    return str(obj)


TEMP_SUFFIX = ".tmp"  # every temporary file of this module is ``.<name>.<random>.tmp`` beside its target


def _umask_mode() -> int:
    """0o666 minus the process umask: the mode ``open()`` would give a new file (mkstemp gives 0600)."""
    old = os.umask(0)
    os.umask(old)
    return 0o666 & ~old


def _atomic_write_with(path: str | os.PathLike, write) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then ``os.replace`` it onto ``path``.

    The result gets the permissions the umask gives; the temporary file is removed on any failure
    (Ctrl-C included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    return _atomic_write_with(path, lambda fh: fh.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temporary file + ``os.replace``), umask permissions."""
    import torch

    return _atomic_write_with(path, lambda fh: torch.save(obj, fh))


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted run left in ``folder`` (recursively); return them.

    Matches this module's ``.<name>.<random>.tmp`` files and the older ``<name>.pt.tmp`` checkpoints. Call it
    at the start of a run, when no other process writes into ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = []
    for p in folder.rglob("*" + TEMP_SUFFIX):
        if p.is_file() and (p.name.startswith(".") or p.name.endswith(".pt" + TEMP_SUFFIX)):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def check_out_dir(path: str | os.PathLike, option: str = "--out", inputs: dict | None = None) -> Path:
    """Refuse, before any work, an output folder that cannot be used; return it as a Path. Writes nothing.

    Refused: an existing file; a path under a file; a folder (or, if it does not exist yet, its nearest existing
    parent) in which no file can be created (read-only, ``/proc``); a folder equal to or inside one of
    ``inputs`` (``{"--data-root": path}``: results must not land among the data)."""
    raw = str(path)
    if not raw.strip():
        raise ConfigError(f"{option} {raw!r} is empty; give a folder to write the results to")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {raw!r} is an existing file, not a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{option} {raw!r} cannot be created: {str(probe)!r} is a file, not a folder")
    try:  # root passes every os.access test, so try for real (and leave nothing behind)
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".monotheory-write-test.", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise ConfigError(f"{option} {raw!r} is not writable ({e.strerror or e} in {str(probe)!r})") from None
    for name, other in (inputs or {}).items():
        if other is None or not str(other):
            continue
        o = Path(other).expanduser().resolve()
        r = p.resolve()
        if r == o or o in r.parents:
            raise ConfigError(f"{option} {raw!r} lies inside {name} {str(other)!r}; write the results elsewhere")
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` (made JSON-ready by :func:`to_jsonable`) as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


# ----------------------------------------------------------------------------------------------- manifest

MANIFEST = "manifest.json"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_files(out_dir: str | os.PathLike, exclude: tuple[str, ...] = ()) -> list[str]:
    """The result files of ``out_dir`` a manifest covers: every file (POSIX paths relative to ``out_dir``,
    sorted) except the manifest itself, temporary files and anything under the top-level names ``exclude``."""
    out_dir = Path(out_dir)
    rels = []
    for p in out_dir.rglob("*"):
        rel = p.relative_to(out_dir).as_posix()
        if not p.is_file() or rel == MANIFEST or p.name.endswith(TEMP_SUFFIX) or rel.split("/")[0] in exclude:
            continue
        rels.append(rel)
    return sorted(rels)


def write_manifest(out_dir: str | os.PathLike, exclude: tuple[str, ...] = ()) -> Path:
    """Write ``out_dir/manifest.json``: the SHA-256 and size of every result file (see :func:`manifest_files`).

    Written last by every run, so ``monotheory verify`` can tell an edited, missing or added file."""
    out_dir = Path(out_dir)
    files = {rel: {"sha256": sha256_file(out_dir / rel), "bytes": (out_dir / rel).stat().st_size}
             for rel in manifest_files(out_dir, exclude)}
    return atomic_write_json(out_dir / MANIFEST, {"algorithm": "sha256", "exclude": list(exclude), "files": files})
