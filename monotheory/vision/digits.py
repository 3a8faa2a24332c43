"""The digits experiment: ``run-imagenet --dataset digits --preset digits`` for several seeds, to a plateau.

``python -m monotheory.vision.digits --out results/digits`` (``make digits``) runs, resuming what exists:

1. the full preset (every stage) for each seed into ``<out>/seed<s>``, ``jobs`` processes at a time (each
   with one torch thread: two single-threaded processes use two cores without thread spinning);
2. the plateau check: the same seeds with half the pretraining epochs, pretrain + SAE + clean probe only,
   into ``<out>/half/seed<s>``. Plateau criterion: for each method the mean over seeds of (clean top-1 at E
   epochs − at E/2) is below 2 points, reported with its paired t interval;
3. the aggregate ``<out>/digits.json`` and ``digits.md``: seed-level means with 95 % t intervals of every
   cell, and paired t tests over seeds (SAE − CL, NCL − CL; NCE − CE) with a Holm correction per family; when the
   runs have the probe stage's strong baselines (``cl_l2``: CL with a tuned L2 probe; ``sae_random``: an
   untrained SAE), their cells too and the mono arms against them (SAE/NCL − each baseline) in families
   "… vs baselines", and the penalty each seed's ``cl_l2`` chose. Which baseline each mono gain survives is
   decided by :func:`monotheory.claims.digits.baseline_survival`.

Seeds are the unit of replication: each seed redraws initialisation, augmentations, label noise and probes.
With 3 seeds a t interval has 2 degrees of freedom (t = 4.30), so only large gaps are resolved.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from monotheory.config import check_int
from monotheory.files import atomic_write_json, atomic_write_text
from monotheory.stats import holm, paired_t, t_interval
from monotheory.vision.data import digits_arrays
from monotheory.vision.presets import DIGITS_EPOCHS

METHODS = ("cl", "sae", "ncl")
BASELINES = ("cl_l2", "sae_random")  # the probe stage's strong baselines (when the runs have them)
PLATEAU_POINTS = 2.0
BASELINE_NAMES = {"cl_l2": "CL + tuned L2 (poly)", "sae_random": "random SAE (untrained)"}


def write_digits_folder(root: str | Path, size: int = 32, keep_every: int = 1) -> Path:
    """The built-in digits split (:func:`monotheory.vision.data.digits_arrays`: 1,433 train / 364 val, every 5th
    image of a class to val) written as an ImageFolder ``root/{train,val}/d<k>/<i>.png``, RGB, ``size`` px.

    For code that needs files (``--dataset folder``, ``monotheory probe``, the LoRA experiment): the images and
    the split are those of ``--dataset digits``. ``keep_every`` > 1 keeps every ``keep_every``-th image of each
    split (a small copy for tests). Written once, atomically (into ``<root>.tmp``, then renamed); an existing
    ``root`` with ``train/`` and ``val/`` is returned as it is.
    """
    import os
    import shutil

    from PIL import Image

    check_int("size", size, 8)
    check_int("keep_every", keep_every, 1)
    root = Path(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    xtr, ytr, xva, yva = digits_arrays(size)
    for split, xs, ys in (("train", xtr, ytr), ("val", xva, yva)):
        for i, (img, y) in enumerate(zip(xs[::keep_every], ys[::keep_every], strict=True)):
            d = tmp / split / f"d{y}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"{i:04d}.png")
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root


def run_args(seed: int, out: Path, extra: list[str], preset: str = "digits") -> list[str]:
    return [sys.executable, "-m", "monotheory", "run-imagenet", "--dataset", "digits", "--preset", preset,
            "--device", "cpu", "--threads", "1", "--quiet", "--seed", str(seed), "--out", str(out), *extra]


CLEAN_ONLY = ["--stages", "pretrain,probe", "--probe-noise-rates", "0", "--probe-sigmas", "0"]
# the runs that decide the NCL clean gap: name → (preset, extra options) — under-training of the digits preset
# (5 epochs; 100 epochs are the plateau runs), the mass term (weight 0 instead of the authors' 1), the projector
# (BatchNorm in its hidden layer), and the setting of the original observation (smoke preset: tiny CNN, 32-px
# crops, projector with BatchNorm, no mass term) at 5 and 20 epochs, and on the 32-px ImageFolder copy where the
# gap was first seen ("{out}" is the experiment folder); every seed
GAP_VARIANTS = {
    "e5": ("digits", ["--epochs", "5", "--methods", "cl,ncl", *CLEAN_ONLY]),
    "mass0": ("digits", ["--mass-alpha", "0", "--methods", "ncl", *CLEAN_ONLY]),
    "projbn": ("digits", ["--proj-bn", "--methods", "cl,ncl", *CLEAN_ONLY]),
    "smoke_e5": ("smoke", ["--train-fraction", "1", "--epochs", "5", "--methods", "cl,ncl", *CLEAN_ONLY]),
    "smoke_e20": ("smoke", ["--train-fraction", "1", "--epochs", "20", "--methods", "cl,ncl", *CLEAN_ONLY]),
    "folder32_e5": ("smoke", ["--dataset", "folder", "--data-root", "{out}/digits32", "--train-fraction", "1",
                              "--epochs", "5", "--methods", "cl,ncl", *CLEAN_ONLY]),
}
GAP_LABELS = {"e5": "digits preset, 5 epochs", "mass0": "digits preset, mass term 0 (NCL; CL of the main run)",
              "projbn": "digits preset, BatchNorm in the projector", "smoke_e5": "smoke preset (tiny CNN), 5 epochs",
              "smoke_e20": "smoke preset (tiny CNN), 20 epochs",
              "folder32_e5": "smoke preset, 5 epochs, 32-px ImageFolder copy (the first observation)"}


def gap_jobs(out: Path, seeds) -> list:
    """The NCL-gap runs not yet done (writing the 32-px digits ImageFolder first when one of them needs it)."""
    jobs = [(run_args(s, out / "gap" / v / f"seed{s}", [a.replace("{out}", str(out)) for a in extra], preset),
             out / "gap" / v / f"seed{s}")
            for v, (preset, extra) in GAP_VARIANTS.items() for s in seeds
            if not (out / "gap" / v / f"seed{s}" / "probe.json").exists()]
    if any(str(out / "digits32") in cmd for cmd, _ in jobs):
        write_digits_folder(out / "digits32", size=32)
    return jobs


def ncl_gap(out: str | Path, seeds) -> dict:
    """Clean top-1 of CL and NCL per variant and seed, NCL − CL paired over seeds (``mass0`` pairs its NCL with
    the main run's CL of the same seed, which it shares; it also compares NCL with and without the term)."""
    out = Path(out)
    rows = {}
    main = {m: [_probe_acc(out / f"seed{s}", m, 0.0, "0") for s in seeds] for m in ("cl", "ncl")}
    epochs = json.loads((out / f"seed{seeds[0]}" / "config.json").read_text())["config"]["pretrain"]["epochs"]
    rows[f"digits preset, {epochs} epochs, mass term 1 (main run)"] = main
    half = [out / "half" / f"seed{s}" for s in seeds]
    if all((h / "probe.json").exists() for h in half):
        rows[f"digits preset, {max(1, epochs // 2)} epochs (plateau runs)"] = {
            m: [_probe_acc(h, m, 0.0, "0") for h in half] for m in ("cl", "ncl")}
    for v in GAP_VARIANTS:
        ss = [s for s in seeds if (out / "gap" / v / f"seed{s}" / "probe.json").exists()]
        if not ss:  # the seeds that finished (the report says how many)
            continue
        dirs = [out / "gap" / v / f"seed{s}" for s in ss]
        ncl = [_probe_acc(d, "ncl", 0.0, "0") for d in dirs]
        cl = [main["cl"][list(seeds).index(s)] for s in ss] if v == "mass0" else [
            _probe_acc(d, "cl", 0.0, "0") for d in dirs]
        rows[GAP_LABELS[v]] = {"cl": cl, "ncl": ncl}
    res = {}
    for name, r in rows.items():
        res[name] = {"cl": _cell(r["cl"]), "ncl": _cell(r["ncl"]), "seeds": len(r["cl"])}
        if len(r["cl"]) > 1:
            res[name]["ncl_minus_cl"] = _paired(r["ncl"], r["cl"])
        else:
            res[name]["ncl_minus_cl"] = {"mean": r["ncl"][0] - r["cl"][0], "ci": [float("nan")] * 2,
                                         "p_value": float("nan"), "n": 1}
    return res


def gap_markdown(res: dict) -> str:
    md = ["| run | seeds | CL clean | NCL clean | NCL − CL (paired t, 95 %) |", "|---|---|---|---|---|"]
    for name, r in res.items():
        t = r["ncl_minus_cl"]
        md.append(f"| {name} | {r['seeds']} | {_pct(r['cl'])} | {_pct(r['ncl'])} | {100 * t['mean']:+.1f} "
                  f"[{100 * t['ci'][0]:+.1f}, {100 * t['ci'][1]:+.1f}] |")
    return "\n".join(md) + "\n"


def run_many(jobs: list[tuple[list[str], Path]], parallel: int) -> None:
    """Run the commands ``parallel`` at a time (log beside each output folder); stop on the first failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                       os.environ.get("PYTHONPATH")]))}
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            cmd, out = pending.pop(0)
            out.parent.mkdir(parents=True, exist_ok=True)
            log = open(str(out) + ".log", "w")
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), out, log))
        time.sleep(1)
        for item in list(running):
            proc, out, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                if proc.returncode != 0:
                    for p, _, lg in running:
                        p.terminate()
                        lg.close()
                    raise SystemExit(f"digits: {' '.join(proc.args)} failed (exit {proc.returncode}); see {out}.log")


def _probe_acc(d: Path, method: str, rate: float, sigma: str) -> float:
    probe = json.loads((d / "probe.json").read_text())
    row = next(r for r in probe["methods"][method]["rows"] if abs(r["noise_rate"] - rate) < 1e-9)
    return float(row["test_acc"][sigma])


def _l2_choice(d: Path, rate: float) -> float | None:
    probe = json.loads((d / "probe.json").read_text())
    row = next(r for r in probe["methods"]["cl_l2"]["rows"] if abs(r["noise_rate"] - rate) < 1e-9)
    return row.get("l2", {}).get("chosen")


def _cell(values) -> dict:
    """Mean accuracy over seeds with its t interval, clipped to [0, 1] (an accuracy cannot leave it)."""
    m, lo, hi = t_interval(values)
    return {"mean": m, "ci": [max(lo, 0.0), min(hi, 1.0)], "values": [float(v) for v in values]}


def _paired(a, b) -> dict:
    return paired_t(a, b)


def _holm(family: list[dict]) -> None:
    ps = [c["p_value"] for c in family]
    if ps:
        for c, q in zip(family, holm(ps), strict=True):
            c["p_holm"] = float(q)


def aggregate(out: str | Path, seeds) -> dict:
    """Seed-level intervals and paired tests of every cell of the digits runs in ``out`` (see module doc)."""
    out = Path(out)
    dirs = [out / f"seed{s}" for s in seeds]
    probe0 = json.loads((dirs[0] / "probe.json").read_text())
    rates = [r["noise_rate"] for r in probe0["methods"]["cl"]["rows"]]
    sigmas = list(probe0["methods"]["cl"]["rows"][0]["test_acc"])
    res: dict = {"dataset": "digits (scikit-learn, 8×8, 10 classes)", "scale": "CPU, MLP backbone",
                 "seeds": list(seeds), "n_test": probe0["n_test"], "n_train": probe0["n_train"],
                 "chance": probe0.get("chance"), "epochs": json.loads((dirs[0] / "config.json").read_text())["config"]
                 ["pretrain"]["epochs"], "cells": {}, "tests": {}}
    cells, tests = res["cells"], res["tests"]
    base = [b for b in BASELINES if all(b in json.loads((d / "probe.json").read_text())["methods"] for d in dirs)]
    probed = (*METHODS, *base)
    if base:
        res["baselines"] = base

    def add(name, per_method, family):
        cells[name] = {m: _cell(v) for m, v in per_method.items()}
        fam = tests.setdefault(family, [])
        for m in ("sae", "ncl"):
            if m in per_method:
                fam.append({"cell": name, "pair": f"{m}-cl", **_paired(per_method[m], per_method["cl"])})
        for m in ("sae", "ncl"):  # the mono gains against the strong baselines: a family of their own
            for b in (b for b in base if m in per_method and b in per_method):
                tests.setdefault(f"{family} vs baselines", []).append(
                    {"cell": name, "pair": f"{m}-{b}", **_paired(per_method[m], per_method[b])})

    for r in rates:
        add(f"label noise {r:g}", {m: [_probe_acc(d, m, r, "0") for d in dirs] for m in probed}, "label noise")
    for s in sigmas:
        if s != "0":
            add(f"input noise σ={s}", {m: [_probe_acc(d, m, 0.0, s) for d in dirs] for m in probed}, "input noise")
    if "cl_l2" in base:  # the penalty each seed's cl_l2 chose at each rate (on its noisy training labels)
        res["l2_chosen"] = {f"{r:g}": [_l2_choice(d, r) for d in dirs] for r in rates}
    shift = [json.loads((d / "shift.json").read_text()) for d in dirs if (d / "shift.json").exists()]
    if len(shift) == len(dirs):
        for name in shift[0]["sets"]:
            add(f"shift {name}", {m: [s["sets"][name]["acc"][m] for s in shift] for m in METHODS}, "shift")
    ft = [json.loads((d / "finetune.json").read_text()) for d in dirs if (d / "finetune.json").exists()]
    if len(ft) == len(dirs):
        keys = sorted({(r["few_shot_fraction"], r["noise_rate"]) for r in ft[0]["runs"]})
        for frac, rate in keys:
            pick = {h: [next(r for r in f["runs"] if r["head"] == h and r["few_shot_fraction"] == frac
                             and r["noise_rate"] == rate) for f in ft] for h in ("ce", "nce")}
            per = {h: [r["final_val_acc"] for r in rs] for h, rs in pick.items()}
            name = f"fine-tune fraction {frac:g}, label noise {rate:g}"
            cells[name] = {h: _cell(v) for h, v in per.items()}
            for h, rs in pick.items():  # final training accuracy on the (noisy) training labels
                cells[name][f"{h}_train"] = _cell([r["history"][-1]["train_acc"] for r in rs])
            cells[name]["epochs"] = len(pick["ce"][0]["history"])
            fam = "fine-tune label noise" if rate > 0 else "fine-tune few-shot"
            tests.setdefault(fam, []).append({"cell": name, "pair": "nce-ce", **_paired(per["nce"], per["ce"])})
    half = [out / "half" / f"seed{s}" for s in seeds]
    if all((h / "probe.json").exists() for h in half):
        res["plateau"] = {}
        for m in METHODS:
            full_v = [_probe_acc(d, m, 0.0, "0") for d in dirs]
            half_v = [_probe_acc(h, m, 0.0, "0") for h in half]
            t = _paired(full_v, half_v)
            res["plateau"][m] = {**t, "half_epochs": res["epochs"] // 2,
                                 "plateau": abs(t["mean"]) * 100 < PLATEAU_POINTS}
    for fam in tests.values():
        _holm(fam)
    return res


def _pct(c: dict) -> str:
    lo, hi = c["ci"]
    return f"{100 * c['mean']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _chance(res: dict) -> str:
    c = res.get("chance")
    return "not recorded" if c is None else f"{100 * c:.1f} % (majority-class share of the test labels)"


def markdown(res: dict) -> str:
    """The digits tables: cells with 95 % intervals, then the paired tests (Holm-adjusted per family)."""
    md = [f"Digits ({res['dataset']}; {res['scale']}; {res['epochs']} pretraining epochs), {len(res['seeds'])} "
          f"seeds, {res['n_test']} test images, chance {_chance(res)}. Top-1 % (mean [95 % t "
          "interval over seeds]).", "", "| cell | CL (poly) | SAE (mono) | NCL (mono) |"
          + "".join(f" {BASELINE_NAMES[b]} |" for b in res.get("baselines", ())),
          "|---|---|---|---|" + "---|" * len(res.get("baselines", ()))]
    for name, c in res["cells"].items():
        if "cl" in c:
            md.append(f"| {name} | {_pct(c['cl'])} | " + " | ".join(
                _pct(c[m]) if m in c else "—" for m in ("sae", "ncl", *res.get("baselines", ()))) + " |")
    if "l2_chosen" in res:
        md += ["", "CL + tuned L2: the penalty λ chosen per seed on a held-out split of the noisy training labels: "
               + "; ".join(f"η={r}: {', '.join(f'{v:g}' for v in vs if v is not None)}"
                           for r, vs in res["l2_chosen"].items()) + "."]
    ft = [(n, c) for n, c in res["cells"].items() if "ce" in c]
    if ft:
        md += ["", "| fine-tuning | CE | NCE |", "|---|---|---|"]
        md += [f"| {n} | {_pct(c['ce'])} | {_pct(c['nce'])} |" for n, c in ft]
    md += ["", "Paired t tests over seeds (difference in points, 95 % interval, p, Holm-adjusted p per family):", "",
           "| family | cell | pair | difference | p | p (Holm) |", "|---|---|---|---|---|---|"]
    for fam, rows in res["tests"].items():
        for r in rows:
            lo, hi = r["ci"]
            md.append(f"| {fam} | {r['cell']} | {r['pair']} | {100 * r['mean']:+.1f} [{100 * lo:+.1f}, "
                      f"{100 * hi:+.1f}] | {r['p_value']:.3f} | {r.get('p_holm', float('nan')):.3f} |")
    if "plateau" in res:
        md += ["", f"Plateau (clean top-1 at {res['epochs']} − at {res['epochs'] // 2} epochs; criterion: |mean| < "
               f"{PLATEAU_POINTS:g} points):", "", "| method | difference | plateau |", "|---|---|---|"]
        for m, r in res["plateau"].items():
            lo, hi = r["ci"]
            md.append(f"| {m} | {100 * r['mean']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] | "
                      f"{'yes' if r['plateau'] else 'no'} |")
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m monotheory.vision.digits", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/digits")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (each single-threaded)")
    p.add_argument("--epochs", type=int, default=DIGITS_EPOCHS, help="pretraining epochs")
    p.add_argument("--no-plateau", action="store_true", help="skip the half-epoch plateau runs")
    p.add_argument("--ncl-gap", action="store_true", help="also the runs that decide the NCL clean gap")
    p.add_argument("--aggregate-only", action="store_true", help="run nothing; tabulate the runs in --out")
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    out = Path(a.out)
    t0 = time.perf_counter()
    ep = ["--epochs", str(a.epochs)]
    jobs = [(run_args(s, out / f"seed{s}", ep), out / f"seed{s}") for s in seeds
            if not (out / f"seed{s}" / "shift.json").exists()]
    if not a.no_plateau:
        jobs += [(run_args(s, out / "half" / f"seed{s}", ["--epochs", str(max(1, a.epochs // 2)), "--stages",
                                                            "pretrain,sae,probe", "--probe-noise-rates", "0",
                                                            "--probe-sigmas", "0", "--probe-baselines", "none"]),
                  out / "half" / f"seed{s}")
                 for s in seeds if not (out / "half" / f"seed{s}" / "probe.json").exists()]
    if a.ncl_gap:
        jobs += gap_jobs(out, seeds)
    if not a.aggregate_only:
        run_many(jobs, a.jobs)
    res = aggregate(out, seeds)
    if a.ncl_gap:
        res["ncl_gap"] = ncl_gap(out, seeds)
    res["wall_seconds_this_call"] = time.perf_counter() - t0
    atomic_write_json(out / "digits.json", res)
    text = markdown(res) + ("\nNCL clean gap:\n\n" + gap_markdown(res["ncl_gap"]) if "ncl_gap" in res else "")
    atomic_write_text(out / "digits.md", text)
    print(text)
    print(json.dumps({"wall_seconds": res["wall_seconds_this_call"], "plateau": {m: r["plateau"] for m, r in
                                                                                  res.get("plateau", {}).items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
