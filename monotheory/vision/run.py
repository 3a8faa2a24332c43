"""The ``run-imagenet`` pipeline: resume rules and the stage driver (configs: :mod:`monotheory.vision.config`).

Stages, in order: ``pretrain`` (CL and/or NCL encoders) → ``sae`` (top-k SAE on frozen CL features) →
``probe`` (linear probes under label and input noise) → ``finetune`` (CE vs NCE, few-shot and label noise)
→ ``shift`` (clean probes on shifted / corrupted test sets); then the Figure-1 summary is (re)written.

Resume rules: a stage is done when its result JSON exists in ``--out`` and is never redone; pretraining
resumes from its last epoch checkpoint. ``config.json`` holds the run's configuration; rerunning in the
same folder with a different one raises :class:`ConfigError` naming the first differing key, unless
``force``, which redoes the requested stages from scratch under the new config: it first deletes their
results, per-run files and checkpoints, and those of every stage that depends on them (:func:`clear_stages`;
e.g. a new encoder makes the SAE, probe, fine-tuning and shift results stale). The keys in
:data:`RUNTIME_KEYS` (which stages, device, workers, compile, progress) may change between reruns.

This module does not import torch at load time.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from monotheory.config import check_choice
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, remove_stale_temps, write_manifest
from monotheory.noise import check_label_noise_rate
from monotheory.vision.config import RUNTIME_KEYS, STAGES, RunConfig, parse_shift
from monotheory.vision.context import RunContext, config_record
from monotheory.vision.dali_loader import require_dali
from monotheory.vision.data import class_names
from monotheory.vision.finetune_stage import run_finetune_stage
from monotheory.vision.loaders import resolve_loader, scan_files
from monotheory.vision.pretrain import run_pretrain_stage
from monotheory.vision.probe_stage import run_probe_stage
from monotheory.vision.sae import run_sae_stage
from monotheory.vision.shift import CORRUPTIONS, check_shift_root
from monotheory.vision.shift_stage import run_shift_stage
from monotheory.vision.summary import write_summary

# ------------------------------------------------------------------------------------ config.json & resume


def config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ between two config records."""
    keys = sorted((set(old) | set(new)) - {"_type"})  # class-name tags are no settings
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


def check_out_folder(cfg: RunConfig, *, write: bool = True) -> None:
    """Compare ``cfg`` with ``<out>/config.json``: raise ConfigError on a difference (unless ``force``)."""
    path = Path(cfg.out) / "config.json"
    new = config_record(cfg)
    if path.exists() and not cfg.force:
        try:
            old = json.loads(path.read_text())["config"]
        except (ValueError, KeyError):
            raise ConfigError(f"{path} is not a run-imagenet config file; use another --out") from None
        diff = config_diff(old, new)
        if diff:
            k = diff[0]
            a, b = _lookup(old, k), _lookup(new, k)
            raise ConfigError(f"--out {cfg.out} holds a run with a different config: {k} = {a!r} there, {b!r} now "
                              f"({len(diff)} key(s) differ); use the same settings to resume, another --out, or "
                              "--force to redo the stages")
    if write:
        atomic_write_json(path, {"config": new, "runtime": {k: getattr(cfg, k) for k in RUNTIME_KEYS}})


def _lookup(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def check_inputs(cfg: RunConfig) -> None:
    """Fail fast (before hours of pretraining) on a missing data root or shift folder."""
    if cfg.dataset == "digits":  # built in: scikit-learn ships it, no --data-root
        import importlib.util

        if importlib.util.find_spec("sklearn") is None:
            raise ConfigError("--dataset digits needs scikit-learn, which is not installed; install it with "
                              "`pip install scikit-learn`")
    elif not cfg.data_root:
        raise ConfigError("--data-root is required (the dataset folder)")
    elif not Path(cfg.data_root).is_dir():
        raise ConfigError(f"--data-root {cfg.data_root!r} does not exist or is not a folder")
    for name, d in parse_shift(cfg.shift):
        if not Path(d).is_dir():
            raise ConfigError(f"--shift {name}={d}: folder {d!r} does not exist")
    if cfg.shift:  # every class folder, now rather than after hours of pretraining
        names = class_names(cfg.dataset, cfg.data_root)
        for name, d in parse_shift(cfg.shift):
            check_shift_root(name, Path(d).expanduser(), names)
    check_label_noise_rates(cfg)
    if "shift" in cfg.stages:
        for name in cfg.shift_eval.corruptions:
            check_choice("corruption", name, CORRUPTIONS)
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    check_loader(cfg)


def device_type(cfg: RunConfig) -> str:
    """``cuda`` or ``cpu``: what ``--device`` (``auto``: CUDA when available) resolves to."""
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_loader(cfg: RunConfig) -> None:
    """The loader's own needs, before anything is written: DALI or kornia installed; for the ``gpu`` loader on
    image files (without ``--skip-bad-images``) every file of the class folders passes a structural check
    (:func:`monotheory.vision.loaders.scan_files`: a JPEG with both end markers, a whole PNG, or a format PIL
    knows), so that a broken file is named now rather than hours into pretraining (on local rank 0 only)."""
    import importlib.util
    import os

    loader = resolve_loader(cfg.loader, cfg.dataset, device_type(cfg))
    if loader == "dali":
        require_dali()
        if cfg.dataset in ("cifar100", "digits"):
            raise ConfigError(f"--loader dali reads image files: use --dataset imagenet100 or folder, not {cfg.dataset}")
    if loader in ("gpu", "tensor") and importlib.util.find_spec("kornia") is None:
        raise ConfigError(f"--loader {loader} needs kornia, which is not installed; install it with `pip install "
                          "kornia` (or the project's vision extra)")
    if loader != "gpu" or cfg.skip_bad_images or cfg.dataset not in ("imagenet100", "folder"):
        return
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return
    root = Path(cfg.data_root).expanduser()
    files = [str(f) for split in ("train", "val") for c in class_names(cfg.dataset, root)
             if (root / split / c).is_dir() for f in sorted((root / split / c).iterdir()) if f.is_file()]
    bad = scan_files(files)
    if bad:
        raise ConfigError(f"{len(bad)} image file(s) under {root} cannot be decoded (truncated or not an image), e.g. "
                          f"{bad[0]}; rerun with --skip-bad-images to skip such files")


def check_label_noise_rates(cfg: RunConfig) -> None:
    """Refuse, before any training, a data set with fewer than 2 classes and label-noise rates that the number
    of classes makes degenerate (:func:`monotheory.noise.check_label_noise_rate`: flip η ≥ (C − 1)/C)."""
    if cfg.dataset == "folder":  # name the split that is wrong (a file train/c made the loader blame val/)
        root = Path(cfg.data_root).expanduser()
        for split, other in (("train", "val"), ("val", "train")):
            for p in sorted((root / split).iterdir()) if (root / split).is_dir() else ():
                if not p.is_dir() and (root / other / p.name).is_dir():
                    raise ConfigError(f"{root / split / p.name} is a file, not a class folder "
                                      f"({other}/{p.name} is a folder); each split needs one folder per class")
    names = class_names(cfg.dataset, cfg.data_root)
    if len(names) < 2:
        raise ConfigError(f"--data-root {cfg.data_root!r} has {len(names)} class folder(s) "
                          f"({', '.join(names) or 'none'}); at least 2 are needed")
    model = cfg.probe.noise_model  # the fine-tuning stage uses the probe's noise model too
    for stage, option, rates in (("probe", "--probe-noise-rates", cfg.probe.noise_rates),
                                 ("finetune", "--ft-noise-rates", cfg.finetune.noise_rates)):
        if stage in cfg.stages:
            for r in rates:
                check_label_noise_rate(f"{option} entry", r, len(names), model)


# redoing a stage makes the results of the stages that read its output stale
DEPENDENTS = {"pretrain": ("sae", "probe", "finetune", "shift"), "sae": ("probe", "shift"), "probe": ("shift",),
              "finetune": (), "shift": ()}
# what each stage leaves in --out (results, per-run parts, checkpoints, caches)
# what the manifest leaves out: the feature cache (large, rebuilt on demand); claims.verify.EXCLUDED says the same
MANIFEST_EXCLUDE = ("features",)
STAGE_FILES = {"pretrain": ("pretrain_*.json", "checkpoints/encoder_*.pt", "checkpoints/pretrain_*_last.pt",
                            "features"),
               "sae": ("sae.json", "checkpoints/sae.pt"),
               "probe": ("probe.json", "probe_correct.npz", "probe_figure4.npz", "checkpoints/probe_*.pt"),
               "finetune": ("finetune.json", "finetune", "checkpoints/finetune_*.pt"),
               "shift": ("shift.json",)}


def clear_stages(out: str | Path, stages) -> list[str]:
    """Delete what ``stages`` and every stage depending on them left in ``out``; returns those stage names.

    Used by ``--force``: a redone stage must not resume from its old checkpoints or per-run files, and the
    results computed from its old output (e.g. probes of a replaced encoder) must not be kept as done.
    """
    import shutil

    out = Path(out)
    todo = {s for s in stages} | {d for s in stages for d in DEPENDENTS[s]}
    gone = []
    for stage in (s for s in STAGES if s in todo):
        paths = [p for pattern in STAGE_FILES[stage] for p in out.glob(pattern)]
        for p in paths:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        if paths:
            gone.append(stage)
    return gone


def run(cfg: RunConfig, *, log=None) -> dict:
    """Run the requested stages of ``cfg`` (resuming), write the summary, and return it.

    Under ``torchrun`` every rank runs every stage (:mod:`monotheory.vision.distributed`); rank 0 writes the
    summary and returns it (the others return ``{}``). Each stage's wall time goes into ``timings.json``
    (rewritten after every stage) and each stage logs a time estimate after its first steps
    (:mod:`monotheory.vision.eta`).
    """
    check_inputs(cfg)

    ctx = RunContext(cfg, log=log or default_log)
    try:
        err = None
        if ctx.dist.is_main:
            try:
                check_out_folder(cfg)
            except ConfigError as e:
                err = str(e)
        err = ctx.broadcast(err)
        if err:
            raise ConfigError(err)
        if ctx.dist.is_main:
            remove_stale_temps(cfg.out)  # what a killed run left (a killed run cannot clean up after itself)
        if cfg.force and ctx.dist.is_main:
            gone = clear_stages(cfg.out, cfg.stages)
            if gone:
                ctx.log("--force: removed the old results of " + ", ".join(gone) + " (redone or stale)")
        ctx.barrier()

        ctx.log(f"device {ctx.device}, {ctx.dist.world_size} process(es), {ctx.loader} loader; batch sizes are per "
                "process")
        for stage, fn in (("pretrain", run_pretrain_stage), ("sae", run_sae_stage), ("probe", run_probe_stage),
                          ("finetune", run_finetune_stage), ("shift", run_shift_stage)):
            if stage in cfg.stages:
                names = [f"pretrain_{e}" for e in cfg.encoders_needed()] if stage == "pretrain" else [stage]
                ran_before = all(ctx.result_path(n).exists() for n in names) and not ctx.fresh(stage)
                t0 = time.perf_counter()
                fn(ctx)
                ctx.barrier()
                ctx.eta.finish(stage)
                if ctx.dist.is_main and not ran_before:
                    record_timing(cfg.out, stage, time.perf_counter() - t0, ctx)
        if not ctx.dist.is_main:
            return {}

        summary = write_summary(cfg.out)

        write_manifest(cfg.out, exclude=MANIFEST_EXCLUDE)  # last: SHA-256 of every result (monotheory verify)
        ctx.log(f"done; summary in {Path(cfg.out) / 'summary.md'}")
        return summary
    finally:
        ctx.close()


def record_timing(out, stage: str, seconds: float, ctx) -> None:
    """Add ``stage``'s wall time of this invocation to ``<out>/timings.json`` (with the world size, device and
    loader it ran with); stages of earlier invocations keep their entries."""
    path = Path(out) / "timings.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    stages = {**old.get("stage_seconds", {}), stage: round(seconds, 3)}
    atomic_write_json(path, {"stage_seconds": stages, "world_size": ctx.dist.world_size, "device": str(ctx.device),
                             "loader": ctx.loader})


def default_log(msg: str) -> None:
    print(f"[run-imagenet] {msg}", file=sys.stderr, flush=True)


