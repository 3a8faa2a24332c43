"""The vision and digits verdict rows decided by the one rule (:mod:`monotheory.claims.rules`).

An :class:`Arm` is what one method (CL, SAE, NCL; or a fine-tuning head, CE / NCE) measured in one cell of a
``run-imagenet`` grid, over one run folder (ImageNet-100: one pretraining seed) or several (digits: one folder
per seed): the accuracy per seed, the per-item 0/1 correctness per seed, and the measured premise quantities
(monosemanticity score, zero fraction) per seed, with the first seed's bootstrap replicates of the score
(:mod:`monotheory.vision.feature_stats`).

* **Cells** (:func:`accuracy_cell`): over seeds when there are ≥ 2 (paired t over seeds; the pooled items are the
  fallback when the seeds have zero spread), else over the test items of the one seed (paired t over items;
  the interval ignores the variance over pretraining seeds, and the row says so). Values are accuracies on the
  0–1 scale, so the cell carries the test set's chance level (the majority-class share of its labels, recorded
  by the probe stage) and the chance rule applies; rows report them in points.
* **Premise** (:func:`premise`): the mono arm is measurably more monosemantic than the poly arm
  (:func:`monotheory.claims.rules.more_monosemantic`: a paired t interval over seeds, or with one seed a basic
  bootstrap interval over the same resampled test items). Unrecorded scores (folders written before the scores
  and replicates were recorded) make the premise "not measured", so the row is "not a test".
* **Rows** (:func:`family_rows`): every cell of one check is one Holm family; each row is decided by its cells and
  its premise, and shows the deciding cell's value and interval in points, both arms' accuracy, monosemanticity
  and zero fraction, the chance level and the family.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from monotheory.claims import rules
from monotheory.claims.verdict import Verdict
from monotheory.vision.tables import load_correct

NAMES = {"cl": "CL", "sae": "SAE", "ncl": "NCL", "ce": "CE", "nce": "NCE"}


@dataclasses.dataclass
class Arm:
    """One method's measurements in one cell, per seed (see the module docstring)."""

    name: str
    acc: list[float]
    items: list = dataclasses.field(default_factory=list)
    mono: list = dataclasses.field(default_factory=list)
    zero: list = dataclasses.field(default_factory=list)
    reps: list | None = None
    train_acc: list = dataclasses.field(default_factory=list)
    n_train: int | None = None

    @property
    def label(self) -> str:
        return NAMES.get(self.name, self.name.upper())

    def describe(self) -> str:
        mono = _mean(self.mono)
        zero = _mean(self.zero)
        stats = ("monosemanticity not recorded" if mono is None else
                 f"monosemanticity {mono:.3f}, zero fraction {zero:.3f}")
        return f"{self.label} {100 * float(np.mean(self.acc)):.1f} % ({stats})"


def _mean(v):
    v = [x for x in v if x is not None]
    return float(np.mean(v)) if v else None


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _stats(arm: Arm, stats: dict | None, first: bool) -> None:
    stats = stats or {}
    arm.mono.append(stats.get("monosemanticity"))
    arm.zero.append(stats.get("sparsity"))
    if first:
        arm.reps = (stats.get("monosemanticity_bootstrap") or {}).get("replicates")


def probe_arms(folders, methods, rate: float, sigma_key: str) -> dict[str, Arm]:
    """The arms of the probe cell (training label-noise ``rate``, test σ ``sigma_key``) over run folders."""
    arms = {m: Arm(m, []) for m in methods}
    for i, folder in enumerate(folders):
        folder = Path(folder)
        probe = _json(folder / "probe.json")
        npz = folder / "probe_correct.npz"
        correct = load_correct(npz) if npz.exists() else {}
        for m, arm in arms.items():
            row = next(r for r in probe["methods"][m]["rows"] if abs(r["noise_rate"] - rate) < 1e-9)
            arm.acc.append(float(row["test_acc"][sigma_key]))
            if (m, rate, sigma_key) in correct:
                arm.items.append(np.asarray(correct[(m, rate, sigma_key)]).astype(int))
            _stats(arm, probe["methods"][m].get("stats"), i == 0)
    return arms


def finetune_arms(runs_per_folder: list[list[dict]], fraction: float, rate: float) -> dict[str, Arm]:
    """The CE and NCE arms of one fine-tuning cell (few-shot ``fraction``, label-noise ``rate``) over seeds."""
    arms = {h: Arm(h, []) for h in ("ce", "nce")}
    for i, runs in enumerate(runs_per_folder):
        for h, arm in arms.items():
            r = next(r for r in runs if r["head"] == h and r["few_shot_fraction"] == fraction
                     and r["noise_rate"] == rate)
            arm.acc.append(float(r.get("final_val_acc", r["history"][-1].get("val_acc", np.nan))))
            if r.get("val_correct") is not None:
                arm.items.append(np.asarray(r["val_correct"]).astype(int))
            arm.train_acc.append(float(r["history"][-1]["train_acc"]))
            arm.n_train = r.get("n_train")
            _stats(arm, r.get("stats"), i == 0)
    return arms


def chance_of(folders) -> float | None:
    """The recorded chance level of the run folders' test set (``probe.json``: majority-class share), or None."""
    vals = []
    for f in folders:
        p = Path(f) / "probe.json"
        vals.append(_json(p).get("chance") if p.exists() else None)
    return None if not vals or any(v is None for v in vals) else float(np.mean(vals))


def premise(mono: Arm, poly: Arm) -> rules.Premise:
    """Is ``mono`` measurably more monosemantic than ``poly``? (see the module docstring)"""
    if any(v is None for v in mono.mono + poly.mono) or not mono.mono:
        return rules.Premise(f"{mono.label} more monosemantic than {poly.label}: the scores were not recorded in "
                             "this folder (rerun its probe / finetune stage)", None,
                             {"mono": _mean(mono.mono), "poly": _mean(poly.mono)})
    reps = (mono.reps, poly.reps) if mono.reps and poly.reps and len(mono.reps) == len(poly.reps) else None
    return rules.more_monosemantic(mono.label, mono.mono, poly.label, poly.mono, replicates=reps)


def accuracy_cell(name: str, a: Arm, b: Arm, *, direction: int = 1, margin: float | None = None,
                  chance: float | None = None) -> rules.Cell:
    """The accuracy gap ``a − b`` (0–1 scale): over seeds (≥ 2), else over the one seed's test items."""
    n_items = len(a.items) == len(a.acc) and len(b.items) == len(b.acc) and a.items
    if len(a.acc) >= 2 or not n_items:
        items = (np.concatenate(a.items), np.concatenate(b.items)) if n_items else (None, None)
        return rules.Cell(name, a.acc, b.acc, direction=direction, margin=margin, items_a=items[0],
                          items_b=items[1], chance=chance, bounds=(-1.0, 1.0), unit="seeds")
    return rules.Cell(name, a.items[0], b.items[0], direction=direction, margin=margin, chance=chance,
                      bounds=(-1.0, 1.0), unit="test images (one pretraining seed; the interval ignores the "
                                                "variance over seeds)")


def _pts(x):
    return None if x is None else 100 * x


def cell_text(c: rules.CellResult) -> str:
    """One decided cell in points: estimate, interval at its level, p, Holm p, outcome."""
    if c.exact:
        return f"{c.name} {c.estimate:+.4g} exact ({c.outcome})"
    ci = ("not estimable" if c.interval is None else
          f"[{100 * c.interval[0]:+.1f}, {100 * c.interval[1]:+.1f}] ({100 * c.level:.1f} %)")
    return (f"{c.name} {100 * c.estimate:+.1f} pt {ci}, p {c.p_value:.3g}, Holm {c.p_holm:.3g} ({c.outcome}; "
            f"{in_points(c.test, c.margin)})")


def in_points(text: str, margin: float | None) -> str:
    """``text`` with the cell's margin (0–1 accuracy) written in points."""
    return text if margin is None else text.replace(f"±{margin:g}", f"±{100 * margin:g} pt")


def family_rows(claim_id: str, claim: str, specs: list[dict], *, conditions: str, family: str,
                details: dict | None = None) -> list[Verdict]:
    """Rows of one check decided as one Holm family.

    Each spec: ``label``, ``cells`` (its parts, :class:`monotheory.claims.rules.Cell`), ``premise``, ``arms``
    (mono, poly), ``paper_value``, optional ``conditions`` (appended) and ``details``."""
    results = rules.decide_family([c for s in specs for c in s["cells"]])
    names = ", ".join(c.name for s in specs for c in s["cells"])
    out, k = [], 0
    for s in specs:
        mine, k = results[k:k + len(s["cells"])], k + len(s["cells"])
        d = rules.decide_row(mine, s["premise"])
        mono, poly = s["arms"]
        chance = s["cells"][0].chance
        head = "" if d.outcome != rules.NOT_A_TEST else "NOT A TEST (premise not met): "
        measured = (f"{head}{mono.describe()} vs {poly.describe()}: " + "; ".join(cell_text(c) for c in mine)
                    + f"; decided by {d.decided_by} ({in_points(d.reason, s['cells'][0].margin)}); chance "
                    + ("not recorded" if chance is None else f"{100 * chance:.1f} %")
                    + f"; premise: {s['premise'].statement}" + s.get("measured_extra", ""))
        interval = None if d.interval is None else (_pts(d.interval[0]), _pts(d.interval[1]))
        out.append(Verdict(
            claim_id=claim_id, claim=claim, verdict=d.outcome, label=s["label"], measured=measured,
            value=_pts(d.value), interval=interval, paper_value=s["paper_value"],
            conditions=f"{conditions}{s.get('conditions', '')}; Holm family: {family} ({names}); one rule "
                       "(monotheory.claims.rules)",
            details={**(details or {}), **s.get("details", {}), "decision": d.to_dict(), "chance": chance,
                     "why": in_points(d.reason, s["cells"][0].margin),
                     "arms": {a.name: {"acc": a.acc, "monosemanticity": a.mono, "zero_fraction": a.zero}
                              for a in (mono, poly)}}))
    return out


BASELINE_LABELS = {"cl": "CL", "cl_l2": "CL + tuned L2", "sae_random": "random SAE"}


def attach_survival(specs: list[dict], survival: list[dict]) -> None:
    """Say in each spec's row which strong baselines its mono arm beats (issue 22).

    ``survival``: the rows of ``baseline_survival`` for this cell (one per mono arm). A gain over CL counts as
    evidence for monosemanticity only where the arm beats every baseline present; the row says so, and keeps the
    comparisons in ``details["baselines"]``. Specs whose arm has no survival row are left as they are.
    """
    by_arm = {r["arm"]: r for r in survival}
    for s in specs:
        r = by_arm.get(s["arms"][0].name)
        if r is None:
            continue
        arms = ", ".join(f"− {BASELINE_LABELS.get(b, b)}" for b in r["vs"])
        beats = ", ".join(BASELINE_LABELS.get(b, b) for b in r["beats"]) or "none of them"
        s["measured_extra"] = (f"; against the strong baselines ({arms}; Holm over the {len(r['vs'])}): beats {beats}"
                               + (" — evidence for monosemanticity" if r["evidence"] else
                                  " — not evidence for monosemanticity (it must beat every one)"))
        s.setdefault("details", {})["baselines"] = r
