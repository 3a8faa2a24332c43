"""The files ``monotheory verify`` reads from a results folder, read as untrusted input.

A results folder may come from someone else, so nothing in it is trusted: every JSON file is checked for its type
and the keys verify uses before anything is derived from it, and any damage is one :class:`ConfigError` sentence
naming the file and the key (``verdicts.json: meta.checks is a str ('checks/x'), not a list of
checks/NAME.json files``), which ``monotheory verify`` prints as one line with exit status 2 (unreadable). Paths
a file lists must lie inside the folder. Nothing here imports or runs code; the scripts a ``--retrain`` reruns
come from the installed package or from a folder the user names on the command line
(:func:`monotheory.claims.verify.retrain_check`), never from a path the folder names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from monotheory.claims.verdict import Verdict
from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.files import MANIFEST

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PART = re.compile(r"checks/[^/\\]+\.json")
# the stage files a run-imagenet summary is rebuilt from, and the keys write_summary reads
STAGE_KEYS = {"probe.json": ("methods",), "finetune.json": ("runs",), "shift.json": ("sets",),
              "sae.json": ("normalized_mse", "dead_latents", "n_latents")}


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:40]}{'…' if len(text) > 40 else ''})"


def need(value: Any, file: str, key: str, kind, what: str) -> Any:
    """``value`` if it is an instance of ``kind``; else a ConfigError naming the file, the key and what is needed."""
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ConfigError(f"{file}: {key} is {'null or missing' if value is None else _show(value)}, not {what}")
    return value


def read_json(out: Path, rel: str) -> Any:
    """The JSON value of ``out/rel``; None if there is no such file; ConfigError if it cannot be read."""
    p = Path(out) / rel
    if not p.exists():
        return None
    if not p.is_file():
        raise ConfigError(f"{rel} in {str(out)!r} is a folder, not a file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{rel} cannot be read: it is not valid JSON ({str(e).splitlines()[0][:80]})") from None
    except OSError as e:
        raise ConfigError(f"{rel} cannot be read ({e.strerror or e})") from None


def inside(rel: Any, file: str, key: str) -> str:
    """``rel`` if it is a relative POSIX path that stays inside the folder; else a ConfigError."""
    p = PurePosixPath(rel) if isinstance(rel, str) else None
    if p is None or not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or ":" in p.parts[0]:
        raise ConfigError(f"{file}: {key} = {rel!r} is not a path inside the folder")
    return rel


def read_manifest(out: Path) -> dict[str, str] | None:
    """``{relative path: SHA-256}`` of ``manifest.json``, or None when there is none. Its other fields (``exclude``)
    are not used: every file of the folder must be listed, so no field of the manifest can hide one."""
    m = read_json(out, MANIFEST)
    if m is None:
        return None
    need(m, MANIFEST, "the top level", dict, "a JSON object")
    files = need(m.get("files"), MANIFEST, "files", dict, "an object of path → {sha256, bytes}")
    shas = {}
    for rel, entry in files.items():
        inside(rel, MANIFEST, "a files entry")
        need(entry, MANIFEST, f"files[{rel!r}]", dict, "an object with sha256")
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ConfigError(f"{MANIFEST}: files[{rel!r}].sha256 is {'missing' if sha is None else _show(sha)}, "
                              "not a SHA-256 hex digest")
        shas[rel] = sha
    return shas


def read_check_record(out: Path) -> dict:
    """``verdicts.json`` of a check folder: ``{"rows", "meta", "checks"}`` (``checks``: the per-check files it
    lists, or None), with ``meta``'s seed, quick and imagenet_results checked."""
    f = "verdicts.json"
    written = need(read_json(out, f), f, "the top level", dict, "a JSON object")
    rows = need(written.get("verdicts", []), f, "verdicts", list, "a list of rows")
    for i, r in enumerate(rows):
        need(r, f, f"verdicts[{i}]", dict, "a row object")
    meta = need(written.get("meta", {}), f, "meta", dict, "an object")
    checks = meta.get("checks")
    if checks is not None:
        need(checks, f, "meta.checks", list, "a list of checks/NAME.json files")
        for i, rel in enumerate(checks):
            if not isinstance(rel, str) or not _PART.fullmatch(rel):
                raise ConfigError(f"{f}: meta.checks[{i}] = {rel!r} is not a file checks/NAME.json of the folder")
    if "seed" in meta:
        check_int(f"{f}: meta.seed", meta["seed"], minimum=0)
    if "quick" in meta:
        need(meta["quick"], f, "meta.quick", bool, "true or false")
    if meta.get("imagenet_results") is not None:
        need(meta["imagenet_results"], f, "meta.imagenet_results", str, "a folder path")
    return {"rows": rows, "meta": meta, "checks": checks}


def read_part(out: Path, rel: str) -> dict | None:
    """A per-check result file (``checks/NAME.json``) with its verdict rows checked; None when it is missing."""
    d = read_json(out, rel)
    if d is None:
        return None
    need(d, rel, "the top level", dict, "a JSON object")
    rows = need(d.get("verdicts"), rel, "verdicts", list, "a list of verdict rows")
    for i, v in enumerate(rows):
        need(v, rel, f"verdicts[{i}]", dict, "a verdict row")
        try:
            Verdict(**v)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{rel}: verdicts[{i}] is not a verdict row ({str(e).splitlines()[0][:100]})") from None
    if d.get("key") is not None:
        need(d["key"], rel, "key", dict, "an object")
    return d


def check_stage_files(out: Path) -> list[str]:
    """The top-level JSON files of a run-imagenet folder (but ``summary.json`` and the manifest), each checked to
    be a JSON object, the stage files with the keys the summary is rebuilt from."""
    names = sorted(p.name for p in Path(out).glob("*.json") if p.name not in ("summary.json", MANIFEST))
    for name in names:
        d = need(read_json(out, name), name, "the top level", dict, "a JSON object")
        for key in STAGE_KEYS.get(name, ()):
            if key not in d:
                raise ConfigError(f"{name}: {key} is missing, so the summary cannot be rebuilt from it")
    return names


def read_run_config(out: Path) -> dict:
    """``config.json`` of a run-imagenet folder: ``{"config": {...}, "runtime": {...}}``, types checked."""
    f = "config.json"
    saved = need(read_json(out, f), f, "the top level", dict, "a JSON object")
    need(saved.get("config"), f, "config", dict, "the run's settings (an object)")
    need(saved.get("runtime", {}), f, "runtime", dict, "an object")
    return saved
