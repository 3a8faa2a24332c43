"""The ``shift`` stage of ``run-imagenet``: each method's clean-label probe on the ``--shift`` folders and on
seeded corruptions of the validation set (:mod:`monotheory.vision.shift`) → ``shift.json``."""

from __future__ import annotations

import dataclasses

from monotheory.config import check_choice
from monotheory.vision.config import METHODS, parse_shift
from monotheory.vision.context import RunContext
from monotheory.vision.probe_stage import load_probe, predict, prepare
from monotheory.vision.shift import CORRUPTIONS, CorruptedDataset, load_shift_roots


def run_shift_stage(ctx: RunContext) -> None:
    """Each method's clean-label probe on the ``--shift`` folders and on seeded corruptions → ``shift.json``."""
    if ctx.done("shift"):
        return
    ctx.require("probe", "shift")
    sc = ctx.cfg.shift_eval
    for name in sc.corruptions:
        check_choice("corruption", name, CORRUPTIONS)
    sets = dict(load_shift_roots(list(ctx.cfg.shift), ctx.class_names, ctx._load()["eval_tf"])) if ctx.cfg.shift \
        else {}
    kinds = {n: "folder" for n, _ in parse_shift(ctx.cfg.shift)}
    d = ctx._load()
    for name in sc.corruptions:
        for sev in sc.severities:
            sets[f"{name}-{sev}"] = CorruptedDataset(d["val_raw"], name, sev, d["mean"], d["std"], ctx.cfg.seed)
            kinds[f"{name}-{sev}"] = "corruption"
    methods = [m for m in METHODS if m in ctx.cfg.methods]
    out = {}
    ctx.eta.begin("shift", "shift (features)")
    for set_name, ds in sets.items():
        out[set_name] = {"kind": kinds[set_name], "n": len(ds), "acc": {}}
        for m in methods:
            x, y = ctx.method_features(m, f"shift-{set_name}", 0.0, ds=ds, stage="shift")  # every rank a share
            if not ctx.dist.is_main:
                continue
            probe = load_probe(ctx.ckpt_dir / f"probe_{m}.pt")
            pred = predict(probe, prepare(x, ctx.cfg.probe.normalize_features))
            out[set_name]["acc"][m] = float((pred.cpu() == y.long()).float().mean()) if len(y) else float("nan")
        ctx.log(f"shift {set_name}: {out[set_name]['acc']}")
    ctx.write_result("shift", {"sets": out, "config": dataclasses.asdict(sc)})
