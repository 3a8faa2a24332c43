"""Experiment pipeline: labels, statistics, probes on known codes, the controls, σ in feature sds, the search."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import NOT_A_TEST, STATUSES, Verdict
from monotheory.errors import ConfigError
from monotheory.toy import SearchConfig, SweepConfig, ToyConfig, experiments, feature_sd, search, sweeps
from monotheory.toy.experiments import (
    evaluate,
    gaussian_shift,
    labels_for,
    probe_batch,
    run_figure5,
    summarise,
    train_models,
)
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler

REPO = Path(__file__).resolve().parents[2]
TINY = dict(n=10, m=5, n_seeds=3, steps=60, batch_size=128, probe_train=512, probe_test=512, probe_max_iter=30)


def test_labels():
    x = torch.tensor([[0.1, 0.7, 0.2], [0.0, 0.0, 0.0], [0.5, 0.4, 0.0]])
    assert labels_for(x, "argmax").tolist() == [1, 3, 0]  # all-zero → extra class n
    assert labels_for(x, "pair").tolist() == [0, 0, 1]  # tie 0 = 0 counts as y = 0


def test_summarise_pairs_by_seed():
    acc = {"clean": np.array([0.5, 0.6, 0.7, 0.6, 0.7, 0.8])}  # poly seeds 0-2, then mono seeds 0-2
    s = summarise(acc, ["poly", "oracle"], 3)
    gap = s["oracle"]["clean"]["gap_vs_poly"]
    assert gap["mean"] == pytest.approx(0.1) and gap["ci"][0] == pytest.approx(0.1)  # constant paired gap
    assert "gap_vs_poly" not in s["poly"]["clean"]


def test_feature_sd_matches_monte_carlo_and_sigma_sd_converts(mc_seed):
    """sd of spike-and-uniform features against 400k draws (z = 4.5 · SE of the sd, ≈ sd/√(2N) scaled by the
    kurtosis: use a generous 4.5 · sd · √(2/N)); σ = σ_sd · sd(S) both ways."""
    n = 400_000
    for S in (0.0, 0.5, 0.8):
        x = FeatureSampler(1, [mc_seed(0)], [S])(n)[0, :, 0].double()
        assert abs(x.std().item() - feature_sd(S)) <= 4.5 * feature_sd(S) * math.sqrt(2 / n) * 2
    assert feature_sd(0.8) == pytest.approx(math.sqrt(0.2 / 3 - 0.01))
    cfg = ToyConfig(sparsity=0.8, sigma_sd=2.0)
    assert cfg.sigma_at(0.8) == pytest.approx(2 * 0.23805, abs=1e-4) and cfg.sigma_sd_at(0.8) == pytest.approx(2)
    raw = ToyConfig(sparsity=0.8, sigma=0.5)
    assert raw.sigma_at(0.8) == 0.5 and raw.sigma_sd_at(0.8) == pytest.approx(0.5 / feature_sd(0.8))
    assert ToyConfig().sigma_sd_at(0.2) == pytest.approx(0.6)  # the default: 0.6 feature sd


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
    """σ perturbs the TEST inputs x before encoding (h = encode(x + σε)); the probe trains on clean inputs."""
    from monotheory.probes import BatchedLinearProbe

    cfg = ToyConfig(**TINY, regimes=("oracle",), sparsity=0.5)
    seeds, sp = [0, 1, 2], [0.5] * 3
    model = ToyModel(cfg, ["oracle"] * 3, seeds)
    seen, fitted = [], []
    orig_encode, orig_fit = ToyModel.encode, BatchedLinearProbe.fit
    monkeypatch.setattr(ToyModel, "encode", lambda self, x: (seen.append(x.clone()), orig_encode(self, x))[1])
    monkeypatch.setattr(BatchedLinearProbe, "fit", lambda self, X, y: (fitted.append(X.clone()), orig_fit(self, X, y))[1])
    acc = evaluate(cfg, model, seeds, sp, [], [0.0, 0.5])
    monkeypatch.undo()
    xtr, _ = probe_batch(cfg, seeds, sp, cfg.probe_train, offset=3)
    xte, _ = probe_batch(cfg, seeds, sp, cfg.probe_test, offset=4)
    eps = gaussian_shift(tuple(xte.shape), seeds)
    assert abs(eps.std().item() - 1.0) < 0.03 and len(seen) == 4
    assert torch.equal(seen[0], xtr) and torch.equal(seen[1], xte)
    torch.testing.assert_close(seen[3], xte + 0.5 * eps)
    assert len(fitted) == 1 and torch.equal(fitted[0], model.encode(xtr))
    assert np.array_equal(acc["input"][0], acc["clean"]) and (acc["input"][1] < acc["clean"] - 0.05).all()


def test_input_noise_of_an_instance_does_not_depend_on_the_other_seeds():
    batch = gaussian_shift((4, 64, 10), [0, 7, 3, 7])
    alone = gaussian_shift((1, 64, 10), [7])
    assert torch.equal(batch[1], alone[0]) and torch.equal(batch[3], alone[0]) and not torch.equal(batch[0], batch[1])
    cfg = ToyConfig(**TINY, regimes=("oracle",), sparsity=0.5)
    model = ToyModel(cfg, ["oracle"] * 3, [4, 9, 11])
    a = evaluate(cfg, model, [4, 9, 11], [0.5] * 3, [], [0.4])
    b = evaluate(cfg, model.select(1), [9], [0.5], [], [0.4])
    assert a["input"][0][1] == b["input"][0][0] and a["clean"][1] == b["clean"][0]


def test_oracle_rot_matches_oracle_on_every_accuracy():
    """A linear probe is invariant to an orthogonal map of h, and L-BFGS from zero is equivariant to it; with
    an L2 penalty the optimum is unique, so both probes converge to the same predictor up to the solver's
    tolerance (gradient ≤ 1e-6): predictions can differ only on test points within ~1e-5 of a decision
    boundary, which we bound by 2 of 1024 test points (0.002)."""
    cfg = ToyConfig(**dict(TINY, probe_train=1024, probe_test=1024, probe_max_iter=500), sparsity=0.8,
                    regimes=("oracle", "oracle-rot"), probe_weight_decay=1e-3, noise_rate=0.5, sigma_sd=1.5)
    s = run_figure5(cfg)["summary"]
    for cond in ("clean", "label_noise", "input_noise"):
        d = np.abs(np.asarray(s["oracle-rot"][cond]["per_seed"]) - np.asarray(s["oracle"][cond]["per_seed"]))
        assert d.max() <= 0.002, (cond, d)
    # the per-unit rule is not applied to these linear codes; the basis-free rule calls both monosemantic
    for r in ("oracle", "oracle-rot"):
        assert s[r]["code"]["basis"].startswith("basis-free") and "features_per_unit" not in s[r]["code"]
        assert s[r]["monosemantic"] and s[r]["code"]["interference"] == pytest.approx(0.0, abs=1e-6)


def test_figure5_reports_codes_and_sigma_in_both_units():
    res = run_figure5(ToyConfig(**TINY, sparsity=0.5, regimes=("poly", "oracle-topk", "dense-trained"), topk=2))
    s = res["summary"]
    assert s["oracle-topk"]["code"]["basis"] == "per-unit" and s["oracle-topk"]["code"]["features_per_unit"] == 1.0
    assert len(s["poly"]["code"]["per_seed"]) == 3 and isinstance(s["poly"]["code"]["per_seed"][0]["monosemantic"], bool)
    assert res["sigma_sd"] == pytest.approx(0.6) and res["sigma"] == pytest.approx(0.6 * feature_sd(0.5))
    assert 0 < res["chance"] < 1 and "majority-class" in res["chance_rule"]


def test_dense_trained_control_trains_on_dense_features(monkeypatch):
    seen = []
    orig = FeatureSampler.__init__
    monkeypatch.setattr(FeatureSampler, "__init__",
                        lambda self, n, seeds, sp, **kw: (seen.append(list(sp)), orig(self, n, seeds, sp, **kw))[1])
    train_models(ToyConfig(**dict(TINY, steps=1)), ["poly", "dense-trained", "oracle"], [0, 0, 0], [0.8, 0.8, 0.8])
    assert seen[0] == [0.8, 0.0]  # the oracle is not trained, dense-trained sees S = 0


def test_phase_map_orders_mono_minus_poly(monkeypatch):
    """Synthetic accuracies with a known sign pattern: mono − poly = (S − 0.5)·(1 + level)."""
    def fake_evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas, **kw):
        mono = np.array([r != "poly" for r in model.regimes])
        S, seed = np.array(sparsities), np.array(seeds)
        # the small mono-only wobble gives the paired gaps a spread over seeds (zero spread has no interval)
        acc = [0.5 + mono * ((S - 0.5) * (1 + lv) + 0.005 * np.cos(2.1 * seed + lv)) + 0.01 * np.sin(seed + 10 * lv)
               for lv in noise_rates]
        return {"clean": acc[0], "label": acc, "input": [], "chance": np.zeros(len(seeds))}

    monkeypatch.setattr(sweeps, "evaluate", fake_evaluate)
    levels, sps = (0.0, 0.3, 0.6), (0.2, 0.5, 0.9)
    pm = sweeps.run_phase_map(ToyConfig(**dict(TINY, steps=1)), SweepConfig(noise_rates=levels, sparsities=sps))
    expected = (np.array(sps)[:, None] - 0.5) * (1 + np.array(levels)[None, :])
    np.testing.assert_allclose(pm["gap"], expected, atol=0.005)
    assert (np.asarray(pm["ci_hi"])[0] < 0).all() and (np.asarray(pm["ci_lo"])[2] > 0).all()


def test_search_selects_the_strongest_condition(monkeypatch):
    """A tiny search whose selection is checked against the score rule recomputed from its own cells."""
    sc = SearchConfig(sparsities=(0.5, 0.8), importances=("uniform",), sigma_sds=(0.5, 1.5), noise_rates=(0.5,),
                      probe_sizes=(64, 256), regimes=("poly", "oracle"), select=("oracle",))
    res = search.run_search(sc, ToyConfig(**dict(TINY, steps=30, probe_test=256)))
    assert {c["noise"] for c in res["cells"]} == {"clean", "label", "input"} and res["grid"]["probe_sizes"] == [64, 256]
    if res["selected"]:
        best = res["selected"][0]
        assert best["score"] == pytest.approx(min(best["t_clean"], best["t_label"], best["t_input"]))


@pytest.mark.parametrize("kw, match", [
    (dict(m=50), "m = 50"), (dict(sparsity=1.0), "sparsity"), (dict(noise_rate=1.5), "noise_rate"),
    (dict(regimes=("poly", "mono")), "regime"), (dict(n_seeds=0), "n_seeds"), (dict(task="xor"), "task"),
    (dict(task="pair", noise_rate=0.5), r"outside \[0, 0.5\) for flip label noise with 2 classes"),
    (dict(topk=21), r"topk = 21 is outside \[1, m = 20\]"), (dict(topk=0), "topk = 0 must be ≥ 1"),
    (dict(sigma=0.2, sigma_sd=1.0), "are both given"), (dict(sigma_sd=-1.0), "sigma_sd"),
    (dict(probe_train=30), "probe_train = 30 is below the 41 classes"),
])
def test_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        ToyConfig(**kw)


@pytest.mark.parametrize("kw, match", [
    (dict(sparsities=()), "search grid axis sparsities is empty"),
    (dict(probe_sizes=()), "probe_sizes is empty"),
    (dict(regimes=("poly", "mono")), "search regime = 'mono' is unknown"),
    (dict(regimes=("oracle",), select=("oracle",)), "must include poly"),
])
def test_search_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        SearchConfig(**kw)
    with pytest.raises(ConfigError, match="probe_sizes entry = 16 is below the 41 classes"):
        SearchConfig(probe_sizes=(16,)).check_against(ToyConfig())


@pytest.mark.slow
def test_mono_topk_at_s08_carries_one_feature_per_unit_but_is_superposed():
    """The default k, S = 0.8, uniform importance, 1000 steps, seeds 0–4: mono-topk's units carry one feature each
    (features_per_unit ≤ 1.25) but its represented features overlap (interference > 0.1), so the restored premise
    rule (metrics.MONOSEMANTIC_RULE, issue 22) calls it polysemantic on every seed, like poly."""
    cfg = ToyConfig(sparsity=0.8, steps=1000, n_seeds=5, regimes=("poly", "mono-topk"))
    model, _ = train_models(cfg, ["mono-topk"] * 5 + ["poly"] * 5, list(range(5)) * 2, [0.8] * 10)
    rep = experiments.code_report(model)
    assert all(e["features_per_unit"] <= 1.25 and e["interference"] > 0.1 for e in rep[:5])
    assert not any(e["monosemantic"] for e in rep)


def test_c05_quick_returns_well_formed_verdicts(tmp_path):
    spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    verdicts = mod.run(CheckContext(out_dir=tmp_path, quick=True))
    recorded = search.load_conditions()["conditions"]
    # every row with all labels; the oracle family's rows also capacity-matched (the trained code's: full grid)
    n_all = 2 * len(mod.ROW_REGIMES) + len(recorded)
    n_matched = 2 * (len(mod.ROW_REGIMES) - 1) + sum(c["regime"] != "mono-topk" for c in recorded)
    assert len(verdicts) == n_all + n_matched
    assert sum("capacity-matched" in v.label for v in verdicts) == n_matched
    assert not any("mono-topk" in v.label and "capacity-matched" in v.label for v in verdicts)
    for v in verdicts:
        assert isinstance(v, Verdict) and v.claim_id == "C5" and v.verdict in STATUSES and v.verdict != "error"
        assert "held-out seeds 100–102" in v.conditions and v.details["config"]["seed"] == 100
        assert ("topk" in v.label) == ("(k = 2)" in v.label)
        assert (v.verdict == NOT_A_TEST) == (not v.details["is_test"])
        assert v.measured.startswith("NOT A TEST") == (not v.details["is_test"])
        assert "Holm" in v.measured and "chance" in v.measured and "monosemantic on" in v.measured
        d = v.details["decision"]
        cell = next(c for c in d["cells"] if c["name"] == d["decided_by"])
        assert v.value == cell["estimate"] and (v.interval is None) == (cell["interval"] is None)
        assert all(Path(f).is_file() and Path(f).with_suffix(".json").is_file() for f in v.figures)
    assert (tmp_path / "c05_mechanism.json").is_file() and (tmp_path / "c05_mechanism.md").is_file()


def test_search_ranks_by_scipys_paired_t():
    """The search's score is SciPy's paired t statistic (no hand-written formula), with the constant-gap ends."""
    from scipy.stats import ttest_rel

    from monotheory.stats import paired_t_statistic

    a, b = np.array([0.61, 0.64, 0.60, 0.66]), np.array([0.58, 0.60, 0.61, 0.62])
    d = a - b
    assert search._t is paired_t_statistic
    assert paired_t_statistic(a, b) == pytest.approx(ttest_rel(a, b).statistic)
    assert paired_t_statistic(a, b) == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(d.size)))
    assert paired_t_statistic(b + 0.1, b) == np.inf and paired_t_statistic(b - 0.1, b) == -np.inf
    assert paired_t_statistic(b, b) == 0.0
    with pytest.raises(ConfigError, match="equal-length"):
        paired_t_statistic(a, b[:3])


def test_plots_draw_on_a_given_axis_and_save_with_their_data(tmp_path):
    """Each plot function draws on the axis it is given, returns that figure, and with ``path`` writes the PNG
    with its data file beside it (the numbers shown, read back exactly)."""
    import json

    from monotheory.plots import pyplot
    from monotheory.toy import plots

    summary = {r: {c: {"mean": m, "ci": [m - 0.01, m + 0.01]} for c, _ in plots.CONDITIONS}
               for r, m in (("poly", 0.6), ("oracle", 0.7))}
    fig, ax = pyplot().subplots()
    assert plots.plot_accuracy_bars(summary, ax, chance=0.1) is fig and len(ax.patches) == 6
    out = plots.plot_accuracy_bars(summary, chance=0.1, path=tmp_path / "bars.png")
    assert (tmp_path / "bars.png").stat().st_size > 0
    assert json.loads((tmp_path / "bars.json").read_text()) == plots.bars_data(summary, 0.1)
    pmap = {"mono": "oracle", "poly": "poly", "sparsities": [0.2, 0.8], "levels": [0.0, 0.9], "noise_label": "η",
            "gap": [[0.0, 0.1], [-0.1, 0.2]], "ci_lo": [[-0.1, 0.05], [-0.2, 0.1]], "ci_hi": [[0.1, 0.2], [0.0, 0.3]]}
    fig2, ax2 = pyplot().subplots()
    assert plots.plot_phase_map(pmap, ax2, path=tmp_path / "map.png") is fig2
    assert json.loads((tmp_path / "map.json").read_text())["gap"] == pmap["gap"]
    wtw = {"poly": np.eye(3).tolist(), "oracle": np.eye(3).tolist()}
    plots.plot_wtw(wtw, path=tmp_path / "wtw.png")
    assert (tmp_path / "wtw.png").exists() and (tmp_path / "wtw.json").exists()
    for f in (fig, fig2, out):
        pyplot().close(f)


def test_sweep_sigma_grids_in_either_unit():
    """sigmas are raw σ's and sigma_sds σ's in feature sds (as sigma / sigma_sd of ToyConfig); the old
    sigma_unit="sd" is a deprecated spelling of sigma_sds (same config, a warning)."""
    from monotheory.toy.config import DEFAULT_SWEEP_SIGMAS

    sd = SweepConfig(sigma_sds=(0.5, 1.0))
    assert sd.unit == "sd" and sd.sigma_levels == (0.5, 1.0) and sd.sigmas is None
    assert SweepConfig().sigmas == DEFAULT_SWEEP_SIGMAS and SweepConfig().unit == "raw"
    with pytest.warns(DeprecationWarning, match="sigma_sds"):
        assert SweepConfig(sigmas=(0.5, 1.0), sigma_unit="sd") == sd
    with pytest.warns(DeprecationWarning, match="sigma_sds"):
        assert SweepConfig(sigmas=(0.5,), sigma_unit="raw") == SweepConfig(sigmas=(0.5,))
    with pytest.raises(ConfigError, match="both given"):
        SweepConfig(sigmas=(0.1,), sigma_sds=(0.5,))
    np.testing.assert_allclose(sweeps._raw(sd, 0.5, [0.2, 0.8]), [0.5 * feature_sd(0.2), 0.5 * feature_sd(0.8)])
    np.testing.assert_allclose(sweeps._raw(SweepConfig(), 0.5, [0.2, 0.8]), [0.5, 0.5])
