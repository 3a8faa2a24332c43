"""Paired statistics of ``run-imagenet`` results, built on :mod:`monotheory.stats` (SciPy): the accuracy gap of
two methods on the same test images with a paired bootstrap interval, and McNemar's exact test for fine-tuning."""

from __future__ import annotations

from monotheory.stats import mcnemar_exact, paired_bootstrap


def paired_gap(correct_a, correct_b, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """Accuracy gap a − b in points (×100) on the same test samples, with a paired bootstrap interval:
    ``(gap, lo, hi)``.

    ``correct_a``/``correct_b``: 0/1 per test sample. The interval is :func:`monotheory.stats.paired_bootstrap`
    (SciPy's paired percentile bootstrap, ``n_boot`` resamples, ``random_state=seed``), so it reflects the
    test-set size only, not the variance over pretraining seeds.
    """
    bs = paired_bootstrap(correct_a, correct_b, confidence=level, n_resamples=n_boot, random_state=seed)
    return 100 * bs["gap"], 100 * bs["ci"][0], 100 * bs["ci"][1]


def finetune_gap(run_a: dict, run_b: dict, *, seed: int = 0, level: float = 0.95):
    """Validation-accuracy gap a − b (points) of two fine-tuning runs scored on the same validation images:
    ``(gap, lo, hi, p_mcnemar)`` with a paired bootstrap interval over images and McNemar's exact p-value
    (:mod:`monotheory.stats`), or ``None`` when a run has no per-image correctness (``val_correct``, written
    since the fine-tuning stage records it; rerun that stage for older folders)."""
    a, b = run_a.get("val_correct"), run_b.get("val_correct")
    if a is None or b is None or len(a) != len(b):
        return None
    bs = paired_bootstrap(a, b, confidence=level, random_state=seed)
    return 100 * bs["gap"], 100 * bs["ci"][0], 100 * bs["ci"][1], mcnemar_exact(a, b)["p_value"]
