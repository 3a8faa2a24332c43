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
from monotheory.toy import SweepConfig, ToyConfig, experiments
from monotheory.toy.experiments import (
    chance_level,
    evaluate,
    features_per_unit,
    gaussian_shift,
    is_monosemantic,
    labels_for,
    probe_batch,
    run_figure5,
    run_phase_map,
    summarise,
    t_interval,
    unit_feature_recovery,
)
from monotheory.toy.model import ToyModel

REPO = Path(__file__).resolve().parents[2]
TINY = dict(n=10, m=5, seeds=3, steps=60, batch_size=128, probe_train=512, probe_test=512, probe_max_iter=30)


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
    redrawing almost every binary label at random (uniform noise, rate 0.99) must destroy that — the noise
    reaches the probe. (Flip noise ≥ 1/2 on a binary task and uniform noise at rate 1 are refused: they would
    invert the labels or leave none.)"""
    base = dict(TINY, regimes=("poly", "oracle"), task="pair", sparsity=0.3, probe_max_iter=100)
    with pytest.raises(ConfigError, match="noise_rate = 1 is outside"):
        ToyConfig(**base, noise_rate=1.0, noise_model="uniform")
    res = run_figure5(ToyConfig(**base, noise_rate=0.99, noise_model="uniform", sigma=0.0))["summary"]["oracle"]
    assert res["clean"]["mean"] > 0.95
    assert res["label_noise"]["mean"] < 0.8
    assert res["input_noise"]["mean"] == pytest.approx(res["clean"]["mean"])  # σ = 0: same inputs


def test_input_noise_is_added_to_test_x_before_encoding(monkeypatch):
    """σ > 0 perturbs the TEST inputs x, before encoding (h = encode(x + σε)); the probe's training inputs
    stay clean; and it lowers the oracle's accuracy."""
    from monotheory.probes import BatchedLinearProbe

    cfg = ToyConfig(**TINY, regimes=("oracle",), sparsity=0.5)
    seeds, sp = [0, 1, 2], [0.5] * 3
    model = ToyModel(cfg.n, cfg.m, ["oracle"] * 3, seeds)
    seen, fitted, scored = [], [], []
    orig_encode, orig_fit, orig_score = ToyModel.encode, BatchedLinearProbe.fit, BatchedLinearProbe.score
    monkeypatch.setattr(ToyModel, "encode", lambda self, x: (seen.append(x.clone()), orig_encode(self, x))[1])
    monkeypatch.setattr(BatchedLinearProbe, "fit",
                        lambda self, X, y: (fitted.append(X.clone()), orig_fit(self, X, y))[1])
    monkeypatch.setattr(BatchedLinearProbe, "score",
                        lambda self, X, y: (scored.append(X.clone()), orig_score(self, X, y))[1])
    acc, _ = evaluate(cfg, model, seeds, sp, [], [0.0, 0.5])
    monkeypatch.undo()
    xtr, _ = probe_batch(cfg, seeds, sp, cfg.probe_train, offset=3)
    xte, _ = probe_batch(cfg, seeds, sp, cfg.probe_test, offset=4)
    eps = gaussian_shift(cfg, tuple(xte.shape), seeds, 0.5)
    assert abs(eps.std().item() - 0.5) < 0.02 and len(seen) == 4  # x_train, x_test, x_test + 0, x_test + 0.5ε
    assert torch.equal(seen[0], xtr) and torch.equal(seen[1], xte) and torch.equal(seen[2], xte)
    torch.testing.assert_close(seen[3], xte + eps)  # noise on x ...
    assert len(fitted) == 1 and torch.equal(fitted[0], model.encode(xtr))  # ... not on the training inputs
    torch.testing.assert_close(scored[-1], model.encode(xte + eps))  # ... and the probe scores encode(x + σε)
    assert not torch.allclose(scored[-1], model.encode(xte) + gaussian_shift(cfg, (3, cfg.probe_test, cfg.m),
                                                                             seeds, 0.5))  # not h + σε
    assert np.array_equal(acc["input"][0], acc["clean"])
    assert (acc["input"][1] < acc["clean"] - 0.05).all()


def test_input_noise_of_an_instance_does_not_depend_on_the_other_seeds():
    cfg = ToyConfig(**TINY, regimes=("oracle",), sparsity=0.5)
    batch = gaussian_shift(cfg, (4, 64, cfg.n), [0, 7, 3, 7], 0.3)
    alone = gaussian_shift(cfg, (1, 64, cfg.n), [7], 0.3)
    assert torch.equal(batch[1], alone[0]) and torch.equal(batch[3], alone[0])  # same seed, same noise
    assert not torch.equal(batch[0], batch[1])
    # end to end: an instance evaluated alone gets the same noisy accuracy as inside a batch of other seeds
    seeds = [4, 9, 11]
    model = ToyModel(cfg.n, cfg.m, ["oracle"] * 3, seeds)
    acc_batch, _ = evaluate(cfg, model, seeds, [0.5] * 3, [], [0.4])
    acc_alone, _ = evaluate(cfg, model.select(1), [9], [0.5], [], [0.4])
    assert acc_batch["input"][0][1] == acc_alone["input"][0][0]
    assert acc_batch["clean"][1] == acc_alone["clean"][0]


def test_phase_map_orders_mono_minus_poly(monkeypatch):
    """Synthetic accuracies with a known sign pattern: mono − poly = (S − 0.5)·(1 + level), so mono loses at
    S = 0.2 and wins at S = 0.9; the map must put each gap in its (sparsity, level) cell with that sign."""
    def fake_evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas):
        mono = np.array([r != "poly" for r in model.regimes])
        S, seed = np.array(sparsities), np.array(seeds)
        acc = [0.5 + mono * (S - 0.5) * (1 + lv) + 0.01 * np.sin(seed + 10 * lv) for lv in noise_rates]
        return {"clean": acc[0], "label": acc, "input": [], "chance": np.zeros(len(seeds))}, {}

    monkeypatch.setattr(experiments, "evaluate", fake_evaluate)
    levels, sps = (0.0, 0.3, 0.6), (0.2, 0.5, 0.9)
    pm = run_phase_map(ToyConfig(**dict(TINY, steps=1)), SweepConfig(noise_rates=levels, sparsities=sps))
    expected = (np.array(sps)[:, None] - 0.5) * (1 + np.array(levels)[None, :])
    np.testing.assert_allclose(pm["gap"], expected, atol=1e-12)  # rows = sparsities, columns = levels
    assert (np.asarray(pm["ci_hi"])[0] < 0).all() and (np.asarray(pm["ci_lo"])[2] > 0).all()
    np.testing.assert_allclose(np.asarray(pm["mono_acc"]) - np.asarray(pm["poly_acc"]), expected, atol=1e-12)


def test_label_free_code_measures():
    eye = np.zeros((1, 3, 6))
    eye[0, [0, 1, 2], [0, 1, 2]] = 1.0  # oracle: unit j = feature j
    assert features_per_unit(eye)[0] == 1.0 and unit_feature_recovery(eye)[0] == pytest.approx(1.0)
    shared = eye.copy()
    shared[0, 0, 3] = 1.0  # unit 0 also carries feature 3 at full weight
    assert features_per_unit(shared)[0] == pytest.approx(4 / 3)
    c = np.cos(np.pi / 4)
    rot = np.zeros((1, 2, 4))
    rot[0] = [[c, -c, 0, 0], [c, c, 0, 0]]  # a 45° rotation of two features: each unit carries both
    assert features_per_unit(rot)[0] == 2.0 and unit_feature_recovery(rot)[0] == pytest.approx(c)
    assert is_monosemantic(1.0, 1.0) and not is_monosemantic(2.0, 1.0) and not is_monosemantic(1.0, c)
    assert chance_level(torch.tensor([[0, 0, 1, 2], [1, 1, 1, 1]]), 3).tolist() == [0.5, 1.0]


def test_figure5_reports_which_codes_are_monosemantic():
    res = run_figure5(ToyConfig(**TINY, sparsity=0.5))
    oracle, poly = res["summary"]["oracle"], res["summary"]["poly"]
    assert oracle["monosemantic"] is True and oracle["geometry"]["features_per_unit"] == 1.0
    assert poly["geometry"]["features_per_unit"] > 1.25 and poly["monosemantic"] is False
    assert 0 < res["chance"] < 1 and "majority-class" in res["chance_rule"]


def test_phase_map_shapes():
    pm = run_phase_map(ToyConfig(**TINY), SweepConfig(noise_rates=(0.0, 0.5), sparsities=(0.2, 0.9)))
    assert np.asarray(pm["gap"]).shape == (2, 2) and np.asarray(pm["ci_lo"]).shape == (2, 2)
    assert (np.asarray(pm["ci_lo"]) <= np.asarray(pm["gap"]) + 1e-12).all()


@pytest.mark.parametrize("kw, match", [
    (dict(m=50), "m = 50"), (dict(sparsity=1.0), "sparsity"), (dict(noise_rate=1.5), "noise_rate"),
    (dict(regimes=("poly", "mono")), "regime"), (dict(seeds=0), "seeds"), (dict(task="xor"), "task"),
    (dict(task="pair", noise_rate=0.5), r"outside \[0, 0.5\) for flip label noise with 2 classes"),
    (dict(n=8, m=4, noise_rate=0.9), r"outside \[0, 0.8889\) for flip label noise with 9 classes"),
])
def test_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        ToyConfig(**kw)


def test_flip_limit_only_for_flip_and_sweep_rates_checked():
    ToyConfig(task="pair", noise_rate=0.49)
    ToyConfig(task="pair", noise_rate=0.9, noise_model="uniform")  # uniform noise never inverts the labels
    with pytest.raises(ConfigError, match="noise_rates entry = 0.6"):
        run_phase_map(ToyConfig(**TINY, task="pair", noise_rate=0.3), SweepConfig(noise_rates=(0.0, 0.6)))


def test_c05_quick_returns_well_formed_verdicts(tmp_path):
    spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    verdicts = mod.run(CheckContext(out_dir=tmp_path, quick=True))
    assert len(verdicts) == 12  # 4 mono regimes × (2 readings of "S = 0.2" + the pair-task condition)
    for v in verdicts[8:]:  # the condition: evaluated on held-out seeds, trained fresh
        assert "held-out seeds 100–102" in v.conditions and v.details["config"]["seed"] == 100
    for v in verdicts:
        assert isinstance(v, Verdict) and v.claim_id == "C5" and v.verdict in STATUSES[:3]
        lo, hi = v.interval
        assert lo <= v.value <= hi
        assert "label noise" in v.measured and "S = " in v.conditions
        assert "chance" in v.measured and "diff-in-diff" in v.measured and "monosemantic: " in v.measured
        assert all(Path(f).is_file() for f in v.figures) and len(v.figures) == 2
        assert {"poly better clean", "mono better under label noise", "mono better under input noise",
                "mono loses no more than poly under input noise"} <= set(v.details["holds"])
        assert set(v.details["difference_in_differences"]) == {"label", "input"}
    assert (tmp_path / "figures" / "c05_fig5a_wtw_S0.2.png").is_file()
