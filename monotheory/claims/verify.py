"""What ``monotheory verify DIR`` does: re-derive a results folder's tables from its per-stage files and check its
manifest (the command is :mod:`monotheory.cli.verify`).

Two kinds of folder are known:

- a ``monotheory check`` folder (``verdicts.json``): the verdict rows and ``verdicts.md`` are rebuilt from the
  per-check files ``checks/*.json`` listed in ``verdicts.json`` and compared with what is written;
- a ``run-imagenet`` folder (``config.json`` + ``summary.json``): ``summary.json`` and ``summary.md`` are rebuilt
  by :func:`monotheory.vision.summary.write_summary` from copies of the stage results in a scratch folder.

Then ``manifest.json`` (SHA-256 of every result file, written last by each run) is checked: a file edited,
deleted or added since the run is named. ``--retrain ID`` reruns one check (``C6``) from its recorded inputs and
seed in a scratch folder and reports whether its result reproduces bit-identically (on CPU). For a
``run-imagenet`` folder, ``--retrain STAGE`` (``pretrain``, ``sae``, ``probe``, ``finetune``, ``shift``) reruns
that stage in a scratch folder from the run's ``config.json`` (seed included) and the saved outputs of the
stages before it, and compares every file the stage writes: JSON values, tensors (loaded with
``weights_only=True``) and ``.npz`` arrays. On CPU they must be bit-identical (wall-clock fields such as
``seconds`` and ``images_per_s`` excepted); a run made on CUDA is rerun on CUDA and compared within
:data:`GPU_RTOL` / :data:`GPU_ATOL` (cuDNN kernels are not bit-reproducible). Exit status 0 when everything
matches, 1 naming the first mismatch, 2 for a folder that is neither kind.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from monotheory.claims.runner import CheckContext, check_key, claim_id, discover, load_part, run_check
from monotheory.claims.verdict import Verdict, verdicts_markdown
from monotheory.errors import ConfigError
from monotheory.files import MANIFEST, manifest_files, sha256_file
from monotheory.vision.config import STAGES
from monotheory.vision.summary import write_summary


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted path of the first place where two JSON values differ, with both values; None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{where}.{k}: present in only one of them" if where else f"{k}: present in only one"
            d = first_difference(a[k], b[k], f"{where}.{k}" if where else str(k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None if len(a) == len(b) else f"{where}: {len(a)} entries vs {len(b)}"
    return None if a == b or (a != a and b != b) else f"{where} = {a!r} vs {b!r}"


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise _Mismatch(f"{path.name} is not valid JSON ({e})") from None


class _Mismatch(Exception):
    pass


def verify_manifest(out: Path) -> list[str]:
    """Mismatches between ``out/manifest.json`` and the files present (empty list: all match)."""
    m = _load(out / MANIFEST)
    if m is None:
        return [f"{MANIFEST} is missing (the run did not finish, or predates manifests)"]
    files = m.get("files", {})
    bad = []
    for rel, entry in files.items():
        p = out / rel
        if not p.is_file():
            bad.append(f"{rel}: listed in {MANIFEST} but deleted")
        elif sha256_file(p) != entry["sha256"]:
            bad.append(f"{rel}: edited since the run (SHA-256 differs from {MANIFEST})")
    for rel in manifest_files(out, tuple(m.get("exclude", ()))):
        if rel not in files:
            bad.append(f"{rel}: not in {MANIFEST} (added after the run)")
    return bad


def verify_check_folder(out: Path) -> list[str]:
    """Rebuild the verdict table from ``checks/*.json`` and compare with ``verdicts.json`` / ``verdicts.md``."""
    written = _load(out / "verdicts.json")
    parts = written.get("meta", {}).get("checks")
    if parts is None:
        parts = sorted(p.relative_to(out).as_posix() for p in (out / "checks").glob("*.json"))
    bad, rows = [], []
    table = written.get("verdicts") or []
    for rel in parts:
        d = load_part(out / rel)
        if d is None:
            return [f"{rel}: missing or not a check result file (verdicts.json lists it)"]
        mine = [Verdict(**v) for v in d["verdicts"]]
        there = table[len(rows):len(rows) + len(mine)]
        for i, (v, w) in enumerate(zip(mine, there, strict=False)):
            diff = first_difference(v.to_dict(), w)
            if diff:
                name = f"{v.claim_id}{' ' + v.label if v.label else ''}"
                bad.append(f"{rel}: verdicts[{i}] ({name}).{diff} (per-check file vs verdicts.json row "
                           f"{len(rows) + i})")
                break
        rows += mine
    if not bad and len(rows) != len(table):
        bad.append(f"verdicts.json has {len(table)} rows, the per-check files {len(rows)}")
    md = (out / "verdicts.md").read_text() if (out / "verdicts.md").is_file() else None
    if md is None:
        bad.append("verdicts.md is missing")
    elif md != verdicts_markdown(rows, base=out):
        line = next((i + 1 for i, (x, y) in enumerate(zip(md.splitlines(), verdicts_markdown(
            rows, base=out).splitlines(), strict=False)) if x != y), None)
        bad.append(f"verdicts.md differs from the table rebuilt from the per-check files (line {line})")
    return bad


def verify_imagenet_folder(out: Path) -> list[str]:
    """Rebuild ``summary.json``/``summary.md`` from copies of the stage results and compare."""
    bad = []
    with tempfile.TemporaryDirectory(prefix="monotheory-verify-") as tmp:
        t = Path(tmp)
        for p in out.glob("*.json"):
            if p.name not in ("summary.json", MANIFEST):
                shutil.copy2(p, t / p.name)
        for extra in ("probe_correct.npz",):
            if (out / extra).is_file():
                shutil.copy2(out / extra, t / extra)
        derived = write_summary(t)
        derived_md = (t / "summary.md").read_text().splitlines()
    written = _load(out / "summary.json")
    if written is None:
        return ["summary.json is missing"]
    diff = first_difference(json.loads(json.dumps(derived, default=str)), written, "summary")
    if diff:
        bad.append(f"summary.json differs from the table rebuilt from the stage files: {diff} (rebuilt vs written)")
    md = (out / "summary.md").read_text().splitlines() if (out / "summary.md").is_file() else None
    if md is None:
        bad.append("summary.md is missing")
    else:  # line 1 names the folder the summary was written in
        line = next((i + 1 for i, (x, y) in enumerate(zip(md[1:], derived_md[1:], strict=False), 1) if x != y), None)
        if line is not None or len(md) != len(derived_md):
            bad.append(f"summary.md differs from the table rebuilt from the stage files (line {line or len(md)})")
    return bad


def retrain_check(out: Path, cid: str) -> list[str]:
    """Rerun check ``cid`` with the recorded seed/quick/inputs in a scratch folder; compare its verdicts."""
    written = _load(out / "verdicts.json") or {}
    meta = written.get("meta", {})
    checks_dir = Path(meta.get("checks_dir") or "paper_checks")
    scripts = [p for p in discover(checks_dir) if claim_id(p) == cid.upper() or p.stem.split("_")[0] == cid.lower()]
    if not scripts:
        raise ConfigError(f"--retrain {cid} names no check script in {str(checks_dir)!r}")
    path = scripts[0]
    saved = load_part(out / "checks" / f"{path.stem}.json")
    if saved is None:
        return [f"checks/{path.stem}.json: missing, nothing to compare the rerun with"]
    res = meta.get("imagenet_results")
    with tempfile.TemporaryDirectory(prefix="monotheory-retrain-") as tmp:
        ctx = CheckContext(Path(tmp), Path(res) if res else None, bool(meta.get("quick")), int(meta.get("seed", 0)))
        key = check_key(path, ctx)
        if saved.get("key") and saved["key"] != key:
            k = next(k for k in key if saved["key"].get(k) != key[k])
            return [f"checks/{path.stem}.json was computed with a different {k} than now; the rerun cannot "
                    "reproduce it"]
        rows = [v.to_dict() for v in run_check(path, ctx)]
    for r in rows:  # figure paths name the scratch folder
        r["figures"] = []
    want = [dict(v, figures=[]) for v in saved["verdicts"]]
    diff = first_difference(rows, want, f"checks/{path.stem}.json:verdicts")
    return [f"--retrain {cid} does not reproduce: {diff} (rerun vs saved)"] if diff else []


# wall-clock measurements, which no rerun reproduces
VOLATILE_KEYS = frozenset({"seconds", "images_per_s", "wall_s", "elapsed_s"})
# tolerance of a --retrain comparison for a run made on CUDA (relative, absolute); CPU: exact
GPU_RTOL, GPU_ATOL = 1e-3, 1e-4


def _strip_volatile(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip_volatile(v) for k, v in x.items() if k not in VOLATILE_KEYS}
    if isinstance(x, list):
        return [_strip_volatile(v) for v in x]
    return x


def _close_json(a: Any, b: Any, where: str, tol: bool) -> str | None:
    """:func:`first_difference`, or with ``tol`` numbers compared within (GPU_RTOL, GPU_ATOL)."""
    if not tol:
        return first_difference(a, b, where)

    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{where}: keys differ ({sorted(set(a) ^ set(b))})"
        return next((d for k in a if (d := _close_json(a[k], b[k], f"{where}.{k}", tol))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} entries vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True)) if (d := _close_json(x, y, f"{where}[{i}]", tol))),
                    None)
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return None if math.isclose(a, b, rel_tol=GPU_RTOL, abs_tol=GPU_ATOL) else f"{where} = {a!r} vs {b!r}"
    return first_difference(a, b, where)


def _compare_file(new: Path, old: Path, rel: str, tol: bool) -> str | None:
    """The first difference between a rerun's file and the saved one (JSON, tensors or ``.npz``)."""
    import numpy as np

    if not old.is_file():
        return f"{rel}: the saved run has no such file (the rerun wrote one)"
    if rel.endswith(".json"):
        return _close_json(_strip_volatile(json.loads(new.read_text())), _strip_volatile(json.loads(old.read_text())),
                           rel, tol)
    if rel.endswith(".npz"):
        with np.load(new) as a, np.load(old) as b:
            if sorted(a.files) != sorted(b.files):
                return f"{rel}: arrays differ in name"
            for k in a.files:
                same = np.allclose(a[k], b[k], rtol=GPU_RTOL, atol=GPU_ATOL) if tol else np.array_equal(a[k], b[k])
                if not same:
                    return f"{rel}[{k}]: values differ"
        return None
    import torch

    def flat(x, prefix=""):
        if isinstance(x, dict):
            return {kk: vv for k, v in x.items() for kk, vv in flat(v, f"{prefix}{k}.").items()}
        if isinstance(x, list | tuple):
            return {kk: vv for i, v in enumerate(x) for kk, vv in flat(v, f"{prefix}{i}.").items()}
        return {prefix.rstrip("."): x}

    try:
        a = flat(torch.load(new, map_location="cpu", weights_only=True))
        b = flat(torch.load(old, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 — a file that is not a plain tensor checkpoint is a mismatch
        return f"{rel}: cannot be read with weights_only=True ({type(e).__name__})"
    if set(a) != set(b):
        return f"{rel}: entries differ ({sorted(set(a) ^ set(b))[:3]})"
    for k in a:
        x, y = a[k], b[k]
        if torch.is_tensor(x) and torch.is_tensor(y):
            same = x.shape == y.shape and (torch.allclose(x.float(), y.float(), rtol=GPU_RTOL, atol=GPU_ATOL) if tol
                                           else torch.equal(x, y))
            if not same:
                return f"{rel}: tensor {k} differs (max |Δ| {float((x.float() - y.float()).abs().max()):.3g})" \
                    if x.shape == y.shape else f"{rel}: tensor {k} has shape {tuple(x.shape)} vs {tuple(y.shape)}"
        elif k.split(".")[-1] not in VOLATILE_KEYS and x != y:
            return f"{rel}: {k} = {x!r} vs {y!r}"
    return None


def retrain_stage(out: Path, stage: str) -> list[str]:
    """Rerun ``run-imagenet`` stage ``stage`` of folder ``out`` in a scratch folder and compare its files."""
    from monotheory.vision.context import config_from_record
    from monotheory.vision.run import STAGE_FILES, run

    if stage not in STAGES:
        raise ConfigError(f"--retrain {stage!r}: a run-imagenet folder has the stages {', '.join(STAGES)}")
    saved = _load(out / "config.json") or {}
    if "config" not in saved:
        raise ConfigError(f"{out / 'config.json'} is not a run-imagenet config file")
    mine = sorted({p.relative_to(out).as_posix() for pattern in STAGE_FILES[stage] for p in out.glob(pattern)
                   for p in ([p] if p.is_file() else p.rglob("*")) if p.is_file()})
    mine = [r for r in mine if not r.startswith("features/") and not r.endswith("_last.pt")]  # caches, resume state
    if not mine:
        return [f"--retrain {stage}: the folder has no output of the {stage} stage to compare with"]
    device = saved.get("runtime", {}).get("device", "cpu")
    import torch

    device = "cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
    skip = {"summary.json", "summary.md", MANIFEST, "noise_curves.json", "finetune_curves.json"}
    with tempfile.TemporaryDirectory(prefix="monotheory-retrain-") as tmp:
        t = Path(tmp)
        for p in out.rglob("*"):  # the saved inputs: every file but this stage's outputs and the caches
            rel = p.relative_to(out).as_posix()
            if p.is_file() and rel not in mine and rel not in skip and not rel.startswith("features/") \
                    and not rel.endswith((".png", ".tmp")) and not rel.endswith("_last.pt"):
                (t / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, t / rel)
        cfg = config_from_record(saved["config"], out=str(t), stages=(stage,), device=device,
                                 threads=saved.get("runtime", {}).get("threads"))
        run(cfg, log=lambda msg: None)
        for rel in mine:
            if not (t / rel).is_file():
                return [f"--retrain {stage} does not reproduce: the rerun wrote no {rel}"]
            diff = _compare_file(t / rel, out / rel, rel, tol=device == "cuda")
            if diff:
                how = "within the GPU tolerance" if device == "cuda" else "bit-identically"
                return [f"--retrain {stage} does not reproduce {how}: {diff} (rerun vs saved)"]
    return []


def verify(out: str | Path, retrain: str | None = None) -> list[str]:
    """All mismatches found in results folder ``out`` (empty: everything matches)."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"DIR {str(out)!r} is not a folder")
    try:
        if (out / "verdicts.json").is_file():
            kind, bad = "check", verify_check_folder(out)
        elif (out / "config.json").is_file() and (out / "summary.json").is_file():
            kind, bad = "run-imagenet", verify_imagenet_folder(out)
        else:
            raise ConfigError(f"DIR {str(out)!r} holds neither verdicts.json (a check folder) nor config.json and "
                              "summary.json (a run-imagenet folder)")
        bad += verify_manifest(out)
        if retrain:
            bad += retrain_check(out, retrain) if kind == "check" else retrain_stage(out, retrain.strip().lower())
    except _Mismatch as e:
        bad = [str(e)]
    return bad
