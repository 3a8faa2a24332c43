"""Time estimates of a ``run-imagenet`` run: one line per stage after its first measured steps.

The work of every stage is counted in *forward-equivalent image passes* (:func:`plan_units`): a training
step costs ``FWD_BWD`` = 3 forward passes per image and view (forward + backward ≈ 3 forwards, the usual
rule), an extraction or evaluation pass 1. Each stage measures its own rate in these units after a few
warm-up steps; its remaining time is its remaining units at that rate, and the whole run's remaining time
adds the later stages' units at the same rate. The line says which rate it used, so it is read as what it is:
an estimate from the stage in progress, refined at each stage. :func:`estimate_hours` applies the same model
to a full preset from measured rates (``benchmarks/gpu_check.py``). Imports no torch.
"""

from __future__ import annotations

import time

from monotheory.vision.finetune_stage import finetune_plan, run_epochs

FWD_BWD = 3.0
N_PAPER_TRAIN, N_PAPER_VAL = 126_689, 5_000  # ImageNet-100 (the CMC subset): train and val images


def plan_units(cfg, n_train: int, n_val: int, todo=None) -> dict[str, float]:
    """Forward-equivalent image passes of each stage of ``cfg`` still to run (``todo``: stage names, default
    ``cfg.stages``), for ``n_train`` training images (after ``train_fraction``) and ``n_val`` validation
    images. Pretraining: epochs × images × 2 views × FWD_BWD per encoder; SAE: one extraction of the CL
    training features, plus (``two_crop``) epochs × 2 views of encoder forwards; probe: the training features
    and the validation features at every σ, per encoder; fine-tuning: per run, epochs × (training images ×
    FWD_BWD + one validation pass); shift: every corruption × severity of the validation set, per encoder."""
    todo = set(cfg.stages if todo is None else todo)
    enc = cfg.encoders_needed()
    probe_enc = [e for e in ("cl", "ncl") if e in enc and ({"cl", "sae"} if e == "cl" else {"ncl"}) & set(cfg.methods)]
    u: dict[str, float] = {}
    if "pretrain" in todo:
        u["pretrain"] = len(enc) * cfg.pretrain.epochs * n_train * 2 * FWD_BWD
    if "sae" in todo and "sae" in cfg.methods:
        u["sae"] = n_train + (cfg.sae.epochs * n_train * 2 if cfg.sae.train_data == "two_crop" else 0)
    if "probe" in todo:
        u["probe"] = len(probe_enc) * (n_train + n_val * len(cfg.probe.sigmas))
    if "finetune" in todo:
        f = cfg.finetune
        u["finetune"] = sum(run_epochs(f, fr) * (n_train * fr * FWD_BWD + n_val) for _, fr, _ in finetune_plan(f))
    if "shift" in todo:
        sets = len(cfg.shift_eval.corruptions) * len(cfg.shift_eval.severities) + len(cfg.shift)
        u["shift"] = sets * n_val * len(probe_enc)
    return u


def estimate_hours(cfg, rate_units_per_s: float, n_train: int = N_PAPER_TRAIN, n_val: int = N_PAPER_VAL) -> dict:
    """Hours per stage (and ``total``) of ``cfg`` at ``rate_units_per_s`` forward-equivalent passes a second."""
    hours = {k: v / rate_units_per_s / 3600 for k, v in plan_units(cfg, n_train, n_val).items()}
    return {**hours, "total": sum(hours.values())}


def fmt(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Eta:
    """Counts measured work and prints the estimate line once per :meth:`begin` (``log``: a one-argument
    callable). ``left``: the units of every stage still to run (from :func:`plan_units`)."""

    def __init__(self, log, left: dict[str, float], *, warmup: int = 3, min_steps: int = 5, min_seconds: float = 1.0,
                 clock=time.perf_counter):
        self.log, self.left, self.clock = log, dict(left), clock
        self.warmup, self.min_steps, self.min_seconds = warmup, min_steps, min_seconds
        self.stage = None

    def begin(self, stage: str, label: str) -> None:
        """Start measuring a (part of a) stage; ``label`` names it in the line (e.g. ``pretrain cl``)."""
        self.stage, self.label, self.steps, self.units, self.busy, self.said = stage, label, 0, 0.0, 0.0, False
        self.t_last = self.clock()

    def pause(self) -> None:
        """Stop the clock between measured pieces of work (e.g. probe fitting between feature extractions)."""
        self.t_last = None

    def resume(self) -> None:
        self.t_last = self.clock()

    def tick(self, units: float) -> None:
        """``units`` of work just done by the stage in progress (the time since the previous tick, or since
        :meth:`begin` / :meth:`resume`, is what it took)."""
        if self.stage is None:
            return
        now = self.clock()
        dt = now - self.t_last if self.t_last is not None else 0.0
        self.t_last = now
        self.left[self.stage] = max(0.0, self.left.get(self.stage, 0.0) - units)
        self.steps += 1
        if self.steps > self.warmup:  # the warm-up steps (workers, cuDNN autotuning) are not timed
            self.units += units
            self.busy += dt
            if not self.said and self.steps - self.warmup >= self.min_steps and self.busy >= self.min_seconds:
                self.said = True
                self.log(self.line(self.units / self.busy))

    def line(self, rate: float) -> str:
        here = self.left.get(self.stage, 0.0) / rate
        rest = sum(v for k, v in self.left.items() if k != self.stage) / rate
        return (f"time estimate, {self.label}: {fmt(here)} left in this stage, about {fmt(here + rest)} for the "
                f"whole run (at the {rate:,.0f} forward-equivalent images/s measured over {self.steps - self.warmup} "
                "steps; a training step counts 3 forwards per image)")

    def finish(self, stage: str) -> None:
        self.left.pop(stage, None)
        if self.stage == stage:
            self.stage = None
