"""Experiment pipeline: labels, statistics, probes on known codes, and the C5 check in quick mode."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from monotheory.checks import CheckContext
from monotheory.errors import ConfigError
from monotheory.report import STATUSES, Verdict
from monotheory.toy import SweepConfig, ToyConfig
from monotheory.toy.experiments import labels_for, run_figure5, run_phase_map, summarise, t_interval

REPO = Path(__file__).resolve().parents[2]
TINY = dict(n=8, m=4, seeds=3, steps=60, batch_size=128, probe_train=512, probe_test=512, probe_max_iter=30)


def test_labels():
    x = torch.tensor([[0.1, 0.7, 0.2], [0.0, 0.0, 0.0], [0.5, 0.4, 0.0]])
    assert labels_for(x, "argmax").tolist() == [1, 3, 0]  # all-zero → extra class n
    assert labels_for(x, "pair").tolist() == [0, 0, 1]  # tie 0 = 0 counts as y = 0


def test_t_interval_matches_scipy():
    v = np.array([0.1, 0.3, 0.2, 0.5])
    m, lo, hi = t_interval(v)
    ref = stats.t.interval(0.95, 3, loc=v.mean(), scale=stats.sem(v))
    assert m == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(ref)
    assert np.isnan(t_interval([0.4])[1])


def test_summarise_pairs_by_seed():
    acc = {"clean": np.array([0.5, 0.6, 0.7, 0.6, 0.7, 0.8])}  # poly seeds 0-2, then mono seeds 0-2
    s = summarise(acc, ["poly", "oracle"], 3)
    gap = s["oracle"]["clean"]["gap_vs_poly"]
    assert gap["mean"] == pytest.approx(0.1) and gap["ci"][0] == pytest.approx(0.1)  # constant paired gap
    assert "gap_vs_poly" not in s["poly"]["clean"]


def test_pair_task_on_the_oracle_code_and_label_noise_is_applied():
    """The oracle sees x0 and x1 directly, so y = 1[x0 > x1] is linearly separable: clean accuracy ≈ 1;
    flipping every binary label (rate 1) must then give accuracy ≈ 0 — the noise reaches the probe."""
    base = dict(TINY, regimes=("poly", "oracle"), task="pair", sparsity=0.3, probe_max_iter=100)
    res = run_figure5(ToyConfig(**base, noise_rate=1.0, sigma=0.0))["summary"]["oracle"]
    assert res["clean"]["mean"] > 0.95
    assert res["label_noise"]["mean"] < 0.05
    assert res["input_noise"]["mean"] == pytest.approx(res["clean"]["mean"])  # σ = 0: same inputs


def test_phase_map_shapes():
    pm = run_phase_map(ToyConfig(**TINY), SweepConfig(noise_rates=(0.0, 0.5), sparsities=(0.2, 0.9)))
    assert np.asarray(pm["gap"]).shape == (2, 2) and np.asarray(pm["ci_lo"]).shape == (2, 2)
    assert (np.asarray(pm["ci_lo"]) <= np.asarray(pm["gap"]) + 1e-12).all()


@pytest.mark.parametrize("kw, match", [
    (dict(m=50), "m = 50"), (dict(sparsity=1.0), "sparsity"), (dict(noise_rate=1.5), "noise_rate"),
    (dict(regimes=("poly", "mono")), "regime"), (dict(seeds=0), "seeds"), (dict(task="xor"), "task"),
])
def test_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        ToyConfig(**kw)


def test_c05_quick_returns_well_formed_verdicts(tmp_path):
    spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    verdicts = mod.run(CheckContext(out_dir=tmp_path, quick=True))
    assert len(verdicts) == 12  # 4 mono regimes × (2 readings of "S = 0.2" + the pair-task condition)
    for v in verdicts:
        assert isinstance(v, Verdict) and v.claim_id == "C5" and v.verdict in STATUSES[:3]
        lo, hi = v.interval
        assert lo <= v.value <= hi
        assert "label noise" in v.measured and "S = " in v.conditions
        assert all(Path(f).is_file() for f in v.figures) and len(v.figures) == 2
        assert set(v.details["holds"]) == {"poly better clean", "mono better under label noise",
                                           "mono better under input noise"}
    assert (tmp_path / "figures" / "c05_fig5a_wtw_S0.2.png").is_file()
