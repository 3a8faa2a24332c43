"""Degenerate toy runs, said out loud: the warnings a ``monotheory toy`` result carries (issue 23).

A run can finish and print numbers that mean nothing: trained regimes that were never trained (``--steps 0``), a
sparsity at which (almost) every test label is the same class (every accuracy then equals chance, e.g. 1.000 at
S = 0.99999), a training loss that diverged to NaN/inf. Each such condition gives one sentence in the result's
``warnings`` list, which the command prints on stderr and beside its table. Imports no torch.
"""

from __future__ import annotations

import math

from monotheory.toy.config import HAND_BUILT, ToyConfig

ONE_CLASS = 0.99  # a majority-class share of the test labels at or above this: (almost) one class


def untrained(cfg: ToyConfig, regimes) -> list[str]:
    """``steps = 0`` with regimes that are trained: they are their random initialisations."""
    trained = [r for r in regimes if r not in HAND_BUILT]
    if cfg.steps == 0 and trained:
        return [f"steps = 0: the trained regimes ({', '.join(trained)}) are their random initialisations, not "
                "trained models"]
    return []


def one_class(chance: float, where: str) -> list[str]:
    """Test labels that are (almost) one class: every accuracy is about the chance level, whatever the code."""
    if chance >= ONE_CLASS:
        return [f"the test labels are (almost) all one class at {where} (chance = majority share {chance:.4f}): "
                "every accuracy is about chance and compares nothing"]
    return []


def diverged(summary: dict) -> list[str]:
    """Regimes whose training loss is not finite."""
    bad = [r for r, row in summary.items() if row.get("train_loss") is not None and not math.isfinite(row["train_loss"])]
    return [f"training diverged (loss NaN or infinite) for {', '.join(bad)}"] if bad else []


def figure5_warnings(cfg: ToyConfig, res: dict) -> list[str]:
    """The warnings of a Figure-5 result (:func:`monotheory.toy.experiments.run_figure5`)."""
    return (untrained(cfg, cfg.regimes) + one_class(res["chance"], f"S = {res['sparsity']:g}")
            + diverged(res["summary"]))
