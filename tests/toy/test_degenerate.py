"""The warnings of a degenerate toy run (issue 23): each fires on its condition and only there."""

from __future__ import annotations

import math

from monotheory.toy import ToyConfig
from monotheory.toy.degenerate import diverged, figure5_warnings, one_class, untrained


def test_untrained_regimes_are_named_only_at_zero_steps():
    assert untrained(ToyConfig(steps=0), ["poly", "oracle", "mono-topk"]) == [
        "steps = 0: the trained regimes (poly, mono-topk) are their random initialisations, not trained models"]
    assert untrained(ToyConfig(steps=0), ["oracle", "oracle-rot"]) == []  # hand-built: nothing to train
    assert untrained(ToyConfig(steps=1), ["poly"]) == []


def test_one_class_and_divergence():
    assert one_class(0.98, "S = 0.9") == [] and "one class at S = 0.99999" in one_class(1.0, "S = 0.99999")[0]
    summary = {"poly": {"train_loss": math.nan}, "oracle": {"train_loss": None}, "mono-topk": {"train_loss": 0.1}}
    assert diverged(summary) == ["training diverged (loss NaN or infinite) for poly"]
    res = {"chance": 1.0, "sparsity": 0.99999, "summary": summary}
    assert len(figure5_warnings(ToyConfig(steps=0, regimes=("poly", "oracle")), res)) == 3
