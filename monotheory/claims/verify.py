"""What ``monotheory verify DIR`` does: re-derive a results folder's tables from its per-stage files and check its
manifest (the command is :mod:`monotheory.cli.verify`).

Two kinds of folder are known:

- a ``monotheory check`` folder (``verdicts.json``): the verdict rows and ``verdicts.md`` are rebuilt from the
  per-check files ``checks/*.json`` listed in ``verdicts.json`` and compared with what is written;
- a ``run-imagenet`` folder (``config.json`` + ``summary.json``): ``summary.json`` and ``summary.md`` are rebuilt
  by :func:`monotheory.vision.summary.write_summary` from copies of the stage results in a scratch folder.

Then ``manifest.json`` (SHA-256 of every result file, written last by each run) is checked: a file edited,
deleted or added since the run is named (the manifest's own fields cannot exempt a file). ``--retrain ID`` reruns
one check (``C6``) from its recorded inputs and seed in a scratch folder and reports whether its result reproduces
bit-identically (on CPU). The check script that reruns is the installed package's (or one in a checks folder the
user passes as ``checks_dir``), never one the folder names: verifying a folder runs no code from it or from any
path it records. For a
``run-imagenet`` folder, ``--retrain STAGE`` (``pretrain``, ``sae``, ``probe``, ``finetune``, ``shift``) reruns
that stage in a scratch folder from the run's ``config.json`` (seed included) and the saved outputs of the
stages before it, and compares every file the stage writes: JSON values, tensors (loaded with
``weights_only=True``) and ``.npz`` arrays. On CPU they must be bit-identical (wall-clock fields such as
``seconds`` and ``images_per_s`` excepted); a run made on CUDA is rerun on CUDA and compared within
:data:`GPU_RTOL` / :data:`GPU_ATOL` (cuDNN kernels are not bit-reproducible). Exit status 0 when everything
matches, 1 naming the first mismatch, 2 for a folder that is neither kind or a file that cannot be read (every
file is validated first, :mod:`monotheory.claims.folder_files`: one line naming the file and the key).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from monotheory.claims.folder_files import (
    STAGE_KEYS,
    check_stage_files,
    read_check_record,
    read_json,
    read_manifest,
    read_part,
    read_run_config,
)
from monotheory.claims.runner import (
    CheckContext,
    check_key,
    claim_id,
    default_checks_dir,
    discover,
    run_check,
)
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


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


# the top-level folders a manifest leaves out, by folder kind (run-imagenet: its feature cache, as
# vision.run.MANIFEST_EXCLUDE writes it); fixed here, so no field of a received manifest can exempt a file
EXCLUDED = {"check": (), "run-imagenet": ("features",)}


def verify_manifest(out: Path, kind: str = "check") -> list[str]:
    """Mismatches between ``out/manifest.json`` and the files present (empty list: all match). Every file of the
    folder but those of :data:`EXCLUDED` for its ``kind`` must be listed: the manifest's own ``exclude`` field is
    not honoured, so an edited manifest cannot hide a file."""
    files = read_manifest(out)
    if files is None:
        return [f"{MANIFEST} is missing (the run did not finish, or predates manifests)"]
    bad = []
    for rel, sha in files.items():
        p = out / rel
        if not p.is_file():
            bad.append(f"{rel}: listed in {MANIFEST} but deleted")
        elif sha256_file(p) != sha:
            bad.append(f"{rel}: edited since the run (SHA-256 differs from {MANIFEST})")
    for rel in manifest_files(out, EXCLUDED[kind]):
        if rel not in files:
            bad.append(f"{rel}: not in {MANIFEST} (added after the run)")
    return bad


def verify_check_folder(out: Path) -> list[str]:
    """Rebuild the verdict table from ``checks/*.json`` and compare with ``verdicts.json`` / ``verdicts.md``."""
    record = read_check_record(out)
    parts = record["checks"]
    if parts is None:
        parts = sorted(p.relative_to(out).as_posix() for p in (out / "checks").glob("*.json"))
    bad, rows = [], []
    table = record["rows"]
    for rel in parts:
        d = read_part(out, rel)
        if d is None:
            return [f"{rel}: missing (verdicts.json lists it)"]
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
    md = _text(out / "verdicts.md")
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
    names = check_stage_files(out)
    written = read_json(out, "summary.json")
    with tempfile.TemporaryDirectory(prefix="monotheory-verify-") as tmp:
        t = Path(tmp)
        for name in names:
            shutil.copy2(out / name, t / name)
        for extra in ("probe_correct.npz",):
            if (out / extra).is_file():
                shutil.copy2(out / extra, t / extra)
        try:
            derived = write_summary(t)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise ConfigError(f"the stage files ({', '.join(n for n in names if n in STAGE_KEYS)}) cannot be "
                              f"rebuilt into a summary ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})") from None
        derived_md = (t / "summary.md").read_text().splitlines()
    if written is None:
        return ["summary.json is missing"]
    diff = first_difference(json.loads(json.dumps(derived, default=str)), written, "summary")
    if diff:
        bad.append(f"summary.json differs from the table rebuilt from the stage files: {diff} (rebuilt vs written)")
    md = _text(out / "summary.md")
    md = md.splitlines() if md is not None else None
    if md is None:
        bad.append("summary.md is missing")
    else:  # line 1 names the folder the summary was written in
        line = next((i + 1 for i, (x, y) in enumerate(zip(md[1:], derived_md[1:], strict=False), 1) if x != y), None)
        if line is not None or len(md) != len(derived_md):
            bad.append(f"summary.md differs from the table rebuilt from the stage files (line {line or len(md)})")
    return bad


def retrain_check(out: Path, cid: str, checks_dir: str | Path | None = None) -> list[str]:
    """Rerun check ``cid`` with the recorded seed/quick/inputs in a scratch folder; compare its verdicts.

    The script is the installed package's check (or the one in ``checks_dir``, a folder the user names): never
    one from the folder or from the ``checks_dir`` its ``verdicts.json`` records."""
    meta = read_check_record(out)["meta"]
    directory = Path(checks_dir) if checks_dir is not None else default_checks_dir()
    where = f"--checks-dir {str(checks_dir)!r}" if checks_dir is not None else "the installed package's checks"
    scripts = [p for p in discover(directory) if claim_id(p) == cid.upper() or p.stem.split("_")[0] == cid.lower()]
    if not scripts:
        raise ConfigError(f"--retrain {cid} names no check script in {where} ({str(directory)!r})")
    path = scripts[0]
    saved = read_part(out, f"checks/{path.stem}.json")
    if saved is None:
        made = meta.get("checks_dir")
        note = (f"; the folder was made with the checks in {made!r}, which verify never runs: pass --checks-dir "
                "to rerun a checks folder you trust") if made and str(made) != str(directory) else ""
        return [f"--retrain {cid}: checks/{path.stem}.json is missing, so the rerun of {path.name} from {where} has "
                f"nothing to compare with{note}"]
    res = meta.get("imagenet_results")
    with tempfile.TemporaryDirectory(prefix="monotheory-retrain-") as tmp:
        ctx = CheckContext(Path(tmp), Path(res) if res else None, bool(meta.get("quick")), int(meta.get("seed", 0)))
        key = check_key(path, ctx)
        if saved.get("key") and saved["key"] != key:
            k = next(k for k in key if saved["key"].get(k) != key[k])
            return [f"--retrain {cid}: checks/{path.stem}.json was computed with a different {k} than {path.name} "
                    f"from {where}; the rerun cannot reproduce it"]
        rows = [v.to_dict() for v in run_check(path, ctx)]
    for r in rows:  # figure paths name the scratch folder
        r["figures"] = []
    want = [dict(v, figures=[]) for v in saved["verdicts"]]  # (rows checked by read_part)
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


def _stage_config(saved: dict, stage: str, data_root: str | None, **runtime):
    """The run's config from ``config.json`` for a rerun of ``stage``; a CIFAR-100 root (pickled batches, which
    unpickling can run code from) is read only where the user names it (``data_root``)."""
    from monotheory.vision.context import config_from_record

    rec = saved["config"]
    if data_root is not None:
        runtime["data_root"] = str(data_root)
    elif rec.get("dataset") == "cifar100":
        raise ConfigError(f"--retrain {stage}: config.json names the CIFAR-100 root {rec.get('data_root')!r}, whose "
                          "files are Python pickles; verify opens none from a path a folder names: pass --data-root "
                          "DIR")
    try:
        return config_from_record(rec, **runtime)
    except ConfigError as e:
        raise ConfigError(f"config.json: config is not a valid run-imagenet config ({e})") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ConfigError(f"config.json: config is not a run-imagenet config ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:100] if str(e) else ''})") from None


def retrain_stage(out: Path, stage: str, data_root: str | None = None) -> list[str]:
    """Rerun ``run-imagenet`` stage ``stage`` of folder ``out`` in a scratch folder and compare its files
    (``data_root``: the data, instead of the root ``config.json`` records)."""
    from monotheory.vision.run import STAGE_FILES, run

    if stage not in STAGES:
        raise ConfigError(f"--retrain {stage!r}: a run-imagenet folder has the stages {', '.join(STAGES)}")
    saved = read_run_config(out)
    mine = sorted({p.relative_to(out).as_posix() for pattern in STAGE_FILES[stage] for p in out.glob(pattern)
                   for p in ([p] if p.is_file() else p.rglob("*")) if p.is_file()})
    mine = [r for r in mine if not r.startswith("features/") and not r.endswith("_last.pt")]  # caches, resume state
    if not mine:
        return [f"--retrain {stage}: the folder has no output of the {stage} stage to compare with"]
    runtime = saved.get("runtime", {})
    device = runtime.get("device", "cpu")
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
        cfg = _stage_config(saved, stage, data_root, out=str(t), stages=(stage,), device=device,
                            threads=runtime.get("threads"))
        run(cfg, log=lambda msg: None)
        for rel in mine:
            if not (t / rel).is_file():
                return [f"--retrain {stage} does not reproduce: the rerun wrote no {rel}"]
            diff = _compare_file(t / rel, out / rel, rel, tol=device == "cuda")
            if diff:
                how = "within the GPU tolerance" if device == "cuda" else "bit-identically"
                return [f"--retrain {stage} does not reproduce {how}: {diff} (rerun vs saved)"]
    return []


def verify(out: str | Path, retrain: str | None = None, *, checks_dir: str | Path | None = None,
           data_root: str | Path | None = None) -> list[str]:
    """All mismatches found in results folder ``out`` (empty: everything matches). ``checks_dir``: where the
    check a ``retrain`` of a check folder reruns comes from (default: the installed package); ``data_root``: the
    data of a ``retrain`` of a run-imagenet stage (default: the root its ``config.json`` records). A file that
    cannot be read raises ConfigError naming it."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"DIR {str(out)!r} is not a folder")
    if (out / "verdicts.json").exists():
        kind = "check"
    elif (out / "config.json").exists() and (out / "summary.json").exists():
        kind = "run-imagenet"
    else:
        raise ConfigError(f"DIR {str(out)!r} holds neither verdicts.json (a check folder) nor config.json and "
                          "summary.json (a run-imagenet folder)")
    for name, value, applies in (("--checks-dir", checks_dir, "check"), ("--data-root", data_root, "run-imagenet")):
        if value is not None and (not retrain or kind != applies):
            raise ConfigError(f"{name} {str(value)!r} applies only to --retrain of a {applies} folder")
    if checks_dir is not None:
        discover(checks_dir)  # a folder of check scripts, or one line saying why not
    if data_root is not None and not Path(data_root).is_dir():
        raise ConfigError(f"--data-root {str(data_root)!r} is not a folder")
    if kind == "check":
        bad = verify_check_folder(out)
    else:
        read_run_config(out)
        bad = verify_imagenet_folder(out)
    bad += verify_manifest(out, kind)
    if retrain:
        bad += retrain_check(out, retrain, checks_dir) if kind == "check" else \
            retrain_stage(out, retrain.strip().lower(), data_root)
    return bad
