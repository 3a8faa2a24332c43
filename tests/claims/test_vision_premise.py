"""The measured premise of the vision rows: the item bootstrap of the monosemanticity score (paired across the arms
of one run) and the chance level the probe stage records; C11's rows from a results file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monotheory.claims import monolora
from monotheory.claims.rules import INCONCLUSIVE, NOT_A_TEST, PARTLY, REPRODUCED, more_monosemantic
from monotheory.errors import ConfigError

torch = pytest.importorskip("torch")
from monotheory.metrics import monosemanticity_score  # noqa: E402
from monotheory.vision.feature_stats import feature_stats, majority_chance, monosemanticity_bootstrap  # noqa: E402


def _codes(n=300, classes=6, seed=0):
    """Labels, a dense code (poly: every unit on every item) and a class-aligned sparse code (mono)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    dense = torch.randn(n, 16, generator=g)
    sparse = torch.relu(torch.randn(n, 16, generator=g) - 1.0)
    sparse[:, :classes] += 2 * torch.nn.functional.one_hot(y, classes)
    return y, dense, sparse


def test_bootstrap_replicates_are_the_score_on_resampled_items_shared_by_every_arm():
    y, dense, sparse = _codes()
    a = monosemanticity_bootstrap(dense, y, n_resamples=50, seed=7)
    b = monosemanticity_bootstrap(sparse, y, n_resamples=50, seed=7)
    assert len(a) == 50 and a == monosemanticity_bootstrap(dense, y, n_resamples=50, seed=7)
    # replicate 0 is the score on the items drawn by the shared stream: recompute it from those indices
    from monotheory.seeding import generator

    idx = torch.from_numpy(generator(7, "monosemanticity-bootstrap", 300).integers(0, 300, (50, 300)))
    assert b[0] == pytest.approx(monosemanticity_score(sparse[idx[0]], y[idx[0]]), abs=1e-6)
    assert a[3] == pytest.approx(monosemanticity_score(dense[idx[3]], y[idx[3]]), abs=1e-6)
    assert monosemanticity_bootstrap(dense, y, n_resamples=50, seed=8) != a


def test_the_premise_from_one_run_tells_a_sparse_aligned_code_from_a_dense_one():
    y, dense, sparse = _codes()
    poly, mono = feature_stats(dense, y, seed=0, n_resamples=300), feature_stats(sparse, y, seed=0, n_resamples=300)
    reps = (mono["monosemanticity_bootstrap"]["replicates"], poly["monosemanticity_bootstrap"]["replicates"])
    prem = more_monosemantic("SAE", [mono["monosemanticity"]], "CL", [poly["monosemanticity"]], replicates=reps)
    assert prem.met is True and prem.measured["interval"][0] > 0
    # two dense codes of the same items: not measurably different
    other = feature_stats(torch.randn(300, 16, generator=torch.Generator().manual_seed(5)), y, seed=0, n_resamples=300)
    same = more_monosemantic("NCL", [other["monosemanticity"]], "CL", [poly["monosemanticity"]],
                             replicates=(other["monosemanticity_bootstrap"]["replicates"], reps[1]))
    assert same.met is False
    assert feature_stats(dense, y, n_resamples=0).keys() == {"monosemanticity", "sparsity", "dim"}


def test_chance_is_the_majority_class_share_of_the_test_labels():
    assert majority_chance(torch.tensor([0, 1, 1, 2, 1]))["chance"] == pytest.approx(0.6)
    digits_like = np.array([3] * 37 + [k for k in range(10) if k != 3 for _ in range(36)])  # not 1/10
    assert majority_chance(digits_like)["chance"] == pytest.approx(37 / 361)


# ----------------------------------------------------------------------------------------------------- C11


def _c11(tmp_path, **over):
    rng = np.random.default_rng(0)
    task_lora = (rng.random(2000) < 0.9).astype(int)
    task_mono = task_lora.copy()
    task_mono[:10] = 1 - task_mono[:10]                      # 10 flips of 2000: within ±1 pt
    harm_lora = (rng.random(2000) < 0.2).astype(int)
    harm_mono = harm_lora.copy()
    harm_mono[np.flatnonzero(harm_lora)[:120]] = 0            # 6 pt fewer harmful answers
    data = {"unit": "prompts", "task": {"lora": task_lora.tolist(), "monolora": task_mono.tolist()},
            "harmful": {"lora": harm_lora.tolist(), "monolora": harm_mono.tolist()},
            "monosemanticity": {"lora": [0.10, 0.12, 0.11], "monolora": [0.40, 0.45, 0.43]}} | over
    p = tmp_path / "monolora.json"
    p.write_text(json.dumps(data))
    return p


def test_c11_decides_task_tost_and_alignment(tmp_path):
    d = monolora.decide_monolora(monolora.load_results(_c11(tmp_path)))
    assert d.outcome == REPRODUCED and [c.outcome for c in d.cells] == [REPRODUCED, REPRODUCED]
    assert d.cells[0].margin == monolora.MARGIN == 0.01
    d = monolora.decide_monolora(monolora.load_results(_c11(tmp_path, harmful={"lora": [0, 1] * 50,
                                                                               "monolora": [1, 0] * 50})))
    # partly: shown by the part that holds (the task score's TOST), the reason names the harmful-rate part
    assert d.outcome == PARTLY and d.decided_by.startswith("task score") and "not for harmful" in d.reason
    d = monolora.decide_monolora(monolora.load_results(_c11(tmp_path, monosemanticity={
        "lora": [0.1, 0.12, 0.11], "monolora": [0.1, 0.12, 0.11]})))
    assert d.outcome == NOT_A_TEST
    data = json.loads(_c11(tmp_path).read_text())
    del data["monosemanticity"]
    assert monolora.decide_monolora(data).outcome == NOT_A_TEST


def test_c11_check_reads_the_environment(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    from monotheory.claims.runner import CheckContext

    spec = importlib.util.spec_from_file_location("c11", Path(__file__).parents[2] / "paper_checks" / "c11_monolora.py")
    c11 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(c11)
    monkeypatch.delenv(monolora.ENV, raising=False)
    assert c11.run(CheckContext(out_dir=tmp_path)).verdict == "skipped"
    monkeypatch.setenv(monolora.ENV, str(_c11(tmp_path)))
    v = c11.run(CheckContext(out_dir=tmp_path))
    assert v.verdict == REPRODUCED and "TOST" in v.conditions and v.interval is not None
    monkeypatch.setenv(monolora.ENV, str(tmp_path / "missing.json"))
    v = c11.run(CheckContext(out_dir=tmp_path))
    assert v.verdict == "skipped" and "missing.json" in v.conditions
    assert INCONCLUSIVE != v.verdict


def test_c11_bad_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a JSON file"):
        monolora.load_results(bad)
    with pytest.raises(ConfigError, match="equal lengths"):
        monolora.decide_monolora({"task": {"lora": [1, 0], "monolora": [1]}, "harmful": {"lora": [0], "monolora": [0]}})
    with pytest.raises(ConfigError, match="outside"):
        monolora.decide_monolora({"task": {"lora": [70], "monolora": [71]}, "harmful": {"lora": [0], "monolora": [0]}})
    with pytest.raises(ConfigError, match="harmful"):
        monolora.decide_monolora({"task": {"lora": [1], "monolora": [1]}})
