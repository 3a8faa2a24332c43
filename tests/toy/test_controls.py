"""The C5 controls on small settings (issue 22): capacity-matched labels, k of the top-k codes, both tasks, the
seeds, the difference-in-differences table and the premise rule's restored interference bound."""

import numpy as np
import pytest
import torch
from scipy import stats

from monotheory.claims.toy_controls import decide_mechanism
from monotheory.errors import ConfigError
from monotheory.metrics import monosemantic_verdict
from monotheory.stats import holm
from monotheory.toy import ToyConfig
from monotheory.toy.controls import ControlsConfig, group_of, mechanism, regime_key, row, series
from monotheory.toy.experiments import labels_for
from monotheory.toy.grid import StackedCodes, groups, run_grid, selectivity, train_codes
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler

TINY = dict(n=10, m=5, n_seeds=3, steps=60, batch_size=128, probe_train=512, probe_test=512, probe_max_iter=40,
            seed=100)


@pytest.fixture(scope="module")
def grid():
    cc = ControlsConfig(sparsities=(0.8,), ks=(1, 2), tasks=("argmax", "pair"))
    return run_grid(cc, ToyConfig(**TINY))


def test_labels_over_a_feature_subset():
    x = torch.tensor([[0.1, 0.7, 0.2, 0.0], [0.0, 0.0, 0.0, 0.9], [0.5, 0.4, 0.0, 0.3], [0.0, 0.6, 0.0, 0.0]])
    x = x.expand(2, 4, 4).clone()
    f = torch.tensor([[True, False, True, True], [False, True, False, True]])
    assert labels_for(x, "argmax", f).tolist() == [[2, 3, 0, 4], [1, 3, 1, 1]]      # 4 = none of them active
    assert labels_for(x, "pair", f).tolist() == [[0, 0, 1, 0], [1, 0, 1, 1]]        # first two listed features
    assert labels_for(x, "argmax", torch.ones(2, 4, dtype=torch.bool)).tolist() == [labels_for(x[0], "argmax").tolist()] * 2
    with pytest.raises(ConfigError, match="task pair needs at least 2"):
        labels_for(x, "pair", torch.tensor([[True, False, False, False]] * 2))
    with pytest.raises(ConfigError, match="one row of 4 flags"):
        labels_for(x, "argmax", torch.ones(3, 4, dtype=torch.bool))


def test_capacity_matched_labels_depend_only_on_features_both_regimes_represent(grid):
    """The oracle keeps the first m = 5 features: its capacity-matched labels range over those (∩ poly's), and the
    oracle's clean accuracy rises from 'half the label's features unseen' to near-perfect when only they count."""
    feats = grid["label_features"]["argmax/0.8/capacity-matched/oracle family"]
    assert all(f <= 5 for f in feats) and grid["label_features"]["argmax/0.8/all/all"] == [10] * 3
    full = series(grid, "argmax", 0.8, "all", "oracle", "clean")
    matched = series(grid, "argmax", 0.8, "capacity-matched", "oracle", "clean")
    assert matched.min() > 0.9 and full.max() < 0.8
    # the same labels for poly and mono within a group (paired), different between groups
    assert group_of("oracle-topk (k = 2)", "capacity-matched") == "oracle family"
    assert group_of("mono-topk (k = 2)", "capacity-matched") == "mono-topk (k = 2)"
    assert dict(groups(["poly", "oracle", "mono-topk (k = 1)"], "capacity-matched"))["mono-topk (k = 1)"] == \
        ["poly", "mono-topk (k = 1)"]


def test_every_top_k_code_is_built_with_its_k():
    cc = ControlsConfig(sparsities=(0.8,), ks=(1, 2, 4), regimes=("poly", "oracle", "oracle-topk"), tasks=("argmax",))
    trained = train_codes(cc, ToyConfig(**{**TINY, "steps": 0}), [100])
    x = torch.rand(1, 256, 10)
    for k, (model, inst, _) in trained.items():
        i = next(j for j, (_, r, _) in enumerate(inst) if r == "oracle-topk")
        active = (StackedCodes([(model, [i])]).encode(x) != 0).sum(-1)
        assert active.max() == k and active.min() == k                     # uniform x: every unit positive


def test_rows_name_k_the_seeds_and_both_tasks(grid):
    assert grid["seeds"] == [100, 101, 102] and grid["ks"] == [1, 2]
    assert {c["task"] for c in grid["cells"]} == {"argmax", "pair"}
    assert grid["noise_models"] == {"argmax": "flip", "pair": "uniform"}   # flip ≥ 1/2 inverts binary labels
    assert 0.6 < grid["chance"]["pair/0.8/all/all"] < 0.95                  # P(x0 ≤ x1) at S = 0.8
    r = row(grid, "pair", 0.8, "capacity-matched", regime_key("oracle-topk", 2), 0.6)
    assert r["mono"] == "oracle-topk (k = 2)" and [c["sign"] for c in r["cells"]] == [-1, 1, 1]
    assert all(len(c["mono"]) == len(c["poly"]) == 3 for c in r["cells"])
    assert r["premise"]["holds"] == (not any(grid["codes"]["0.8"]["poly"]["monosemantic_per_seed"]))


def fake_grid(a_clean, a_noisy, b_clean, b_noisy):
    """A grid result with oracle (a) and poly (b) only, argmax, all labels, S = 0.8, per-seed accuracies given."""
    cells = []
    for key, clean, noisy in (("oracle", a_clean, a_noisy), ("poly", b_clean, b_noisy)):
        for cond, lev, v in (("clean", 0.0, clean), ("label_noise", 0.9, noisy), ("input_noise", 0.6, noisy)):
            cells.append(dict(task="argmax", sparsity=0.8, labels="all", group="all", regime=key, condition=cond,
                              level=lev, per_seed=list(v)))
    return {"cells": cells, "noise_rate": 0.9, "ks": [2], "regimes": ["poly", "oracle"]}


def test_difference_in_differences_is_the_change_under_noise():
    """oracle − poly: +0.10 clean, +0.02 under noise (both better than poly) → DiD −0.08: the noise shrinks the
    oracle's lead, so monosemanticity 'hurts' under noise although the oracle is better at both levels."""
    rng = np.random.default_rng(1)
    b_clean, b_noisy = 0.6 + 0.01 * rng.standard_normal(20), 0.3 + 0.01 * rng.standard_normal(20)
    a_clean = b_clean + 0.10 + 0.005 * rng.standard_normal(20)
    a_noisy = b_noisy + 0.02 + 0.005 * rng.standard_normal(20)
    t = decide_mechanism(mechanism(fake_grid(a_clean, a_noisy, b_clean, b_noisy), "argmax", 0.8, "all", 0.6))
    rows = {r["noise"]: r for r in t["rows"]}
    assert [r["contrast"] for r in t["rows"]] == ["monosemanticity"] * 2
    d = (a_noisy - b_noisy) - (a_clean - b_clean)
    assert rows["label noise"]["mean"] == pytest.approx(d.mean()) and rows["label noise"]["noisy_gap"] > 0
    assert rows["label noise"]["p_value"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    np.testing.assert_allclose([r["p_holm"] for r in t["rows"]], holm([r["p_value"] for r in t["rows"]]))
    assert t["carriers"] == {"label noise": "monosemanticity hurts", "input noise": "monosemanticity hurts"}


def test_difference_in_differences_zero_when_the_gap_does_not_change():
    rng = np.random.default_rng(2)
    b_clean, b_noisy = 0.6 + 0.01 * rng.standard_normal(20), 0.3 + 0.01 * rng.standard_normal(20)
    shift = 0.05 + 0.01 * rng.standard_normal(20)
    t = decide_mechanism(mechanism(fake_grid(b_clean + shift, b_noisy + shift, b_clean, b_noisy), "argmax", 0.8,
                                       "all", 0.6))
    # the same shift clean and noisy: DiD 0 on every seed up to rounding, never significant
    assert all(abs(r["mean"]) < 1e-12 and not r["significant"] for r in t["rows"])
    assert t["carriers"] == {"label noise": "none", "input noise": "none"}


def test_premise_rule_refuses_a_one_feature_per_unit_code_with_superposed_features():
    """Each unit's largest weight is its own feature and every leak is below half of it (1.00 feature per unit,
    recovery ≥ 0.9), but the features' embeddings overlap (interference ≈ 0.4 > 0.1): polysemantic. Without the
    restored interference bound this code would count as monosemantic."""
    m, n = 5, 10
    W = np.zeros((1, m, n))
    W[0, np.arange(m), np.arange(m)] = 1.0
    W[0] += 0.15 * (np.ones((m, n)) - np.eye(m, n)) * (np.arange(n) < m)
    v = monosemantic_verdict(W, [True])[0]
    assert v["features_per_unit"] == 1.0 and v["unit_feature_recovery"] >= 0.9 and v["interference"] > 0.1
    assert not v["monosemantic"]
    assert monosemantic_verdict(np.eye(m, n)[None], [True])[0]["monosemantic"]


@pytest.mark.parametrize("kw, match", [
    (dict(ks=()), "ks is empty"), (dict(ks=(0,)), "ks entry = 0"), (dict(ks=(2, 2)), "lists a k twice"),
    (dict(tasks=("argmax", "xor")), "xor"), (dict(labels=("some",)), "some"), (dict(sigma_sds=(-1.0,)), "-1"),
    (dict(regimes=("oracle", "mono-topk")), "must include poly"), (dict(regimes=("poly", "dense-trained")), "dense"),
    (dict(pair_noise_model="pink"), "pink"), (dict(sparsities=(1.0,)), "sparsities entry = 1"),
])
def test_controls_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        ControlsConfig(**kw)


def test_controls_config_against_the_base():
    with pytest.raises(ConfigError, match="ks entry = 8 is outside"):
        ControlsConfig(ks=(8,)).check_against(ToyConfig(n=10, m=5))
    with pytest.raises(ConfigError, match="0.9"):
        ControlsConfig(pair_noise_model="flip").check_against(ToyConfig(noise_rate=0.9))


def test_selectivity_is_one_for_the_oracle_and_drops_when_units_mix_features():
    """oracle-topk units fire only when their own feature is active (1.0); a top-2 code whose units each add a
    second feature at 0.8 of the first fires without its own feature, so its selectivity is below 1."""
    cfg = ToyConfig(n=10, m=5, regimes=("oracle-topk", "mono-topk"), topk=2, noise_rate=0.0)
    model = ToyModel(cfg, ["oracle-topk", "mono-topk"], [0, 0])
    with torch.no_grad():
        W = torch.zeros(5, 10)
        W[torch.arange(5), torch.arange(5)] = 1.0
        W[torch.arange(5), torch.arange(5, 10)] = 0.8
        model.W[1] = W
    x = FeatureSampler(10, [0, 0], [0.8, 0.8], offset=7)(2048)
    s = selectivity(model, x)
    assert s[0] == 1.0 and s[1] < 0.9
