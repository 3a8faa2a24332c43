"""C5 — toy model (Section 4.2, Figure 5): poly better on clean data, mono better under label and input noise.

The paper's toy setup is only partly known (PAPER.md §4): n = 40 features, m = 20 hidden, "S = 0.2", a
linear classifier on h, 90 % label noise, Gaussian input noise on the validation inputs. Everything else is
a parameter of :mod:`monotheory.toy`; this check uses the library defaults (chosen before looking at the
outcome: argmax task with n + 1 classes, uniform importance, σ = 0.2 ≈ 0.6 feature standard deviations
like the paper's σ = 0.6 on standardised pixels, flip/exact label noise, L-BFGS probe without weight
decay on 4096 samples) and, because "S = 0.2" is ambiguous, BOTH readings: S = P(zero) = 0.2 (Elhage's
convention, the project's) and feature probability 0.2 (S = 0.8). One row per (reading, mono regime).

For each noise (label, input) the row computes, paired by seed (poly and mono with the same seed share all
data), each with a 95 % t-interval over seeds:

* the **absolute gap** mono − poly under the noise (the paper's literal comparison);
* the **difference-in-differences** (mono − poly under the noise) − (mono − poly clean): < 0 means mono
  loses MORE accuracy to the noise than poly, whatever its clean lead; and the retained fractions
  (accuracy under noise / clean accuracy) of both regimes;
* whether the cell is **near chance**: chance = the majority-class rate of the test labels (the accuracy of
  the best constant prediction; not 1/C, which misstates chance for the unbalanced pair task, P(y = 0) =
  0.82 at S = 0.8). A noise cell is *uninformative (near or below chance)* when BOTH regimes' upper 95 %
  bounds are below chance + 5 % of the way from chance to perfect accuracy, ``hi < chance + 0.05·(1 −
  chance)``; this includes cells where both probes do worse than the best constant prediction, which is no
  evidence of robustness. (A multiple of chance such as 2×chance would flag every cell of a binary task with
  chance > 1/2.)

Mono is **robust under a noise** when (a) the absolute gap's interval lies above 0, (b) the cell is not
near chance, and (c) the difference-in-differences interval is not entirely below 0 (mono does not lose more
than poly). (b) goes beyond the literal comparison; ``details["status_without_chance_rule"]`` gives the
verdict without it. Verdict:

* reproduced — poly better clean (clean gap's interval below 0) AND mono robust under label noise AND under
  input noise;
* partly reproduced — mono robust under at least one of the two noises, but not all of the above;
* not reproduced — otherwise; in particular a mono regime that is better under a noise only because it was
  far better clean, losing more to the noise than poly, does not count.

Each row also states whether the hidden codes are monosemantic by a label-free rule on W
(:data:`monotheory.toy.experiments.MONOSEMANTIC_RULE`: features per hidden unit and feature recovery of W's
columns against the hidden units' axes); the class-purity score is reported too, but with 41 argmax classes it
is ≈ 1/C for every code, the oracle included.

Rows nine to twelve report a condition found by ``monotheory toy sweep`` on seeds 0–9 (not a default): the
theory's binary task y = 1[x_0 > x_1] at S = 0.8 with σ = 0.4 and η = 0.45, evaluated on HELD-OUT seeds
(seed + 100 onwards, models trained fresh), so the search and the evaluation do not share seeds.

The headline value is the label-noise gap mono − poly with its interval; everything else is in ``measured``
/ ``details``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monotheory.checks import CheckContext, script_main
from monotheory.config import to_dict
from monotheory.report import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict

CLAIM = "toy model: poly better on clean data, mono better under label noise and under input noise (Fig. 5)"
READINGS = ((0.2, "S = P(zero) = 0.2"), (0.8, "feature probability 0.2 (S = 0.8)"))
NOISES = (("label_noise", "label"), ("input_noise", "input"))
NEAR_CHANCE_SHARE = 0.05   # of the distance from chance to perfect accuracy
HELD_OUT_OFFSET = 100      # the condition is evaluated on seeds seed + 100, …


def config(quick: bool, seed: int):
    from monotheory.toy import ToyConfig

    if quick:
        return ToyConfig(seeds=3, steps=150, probe_train=1024, probe_test=1024, probe_max_iter=50, seed=seed)
    # library defaults except 1000 Adam steps instead of 2000 (time budget); the gaps agree within their
    # intervals with 2000 steps (see the report)
    return ToyConfig(steps=1000, seed=seed)


def _gap(row: dict, cond: str) -> tuple[float, float, float]:
    g = row[cond]["gap_vs_poly"]
    return g["mean"], g["ci"][0], g["ci"][1]


def _did(row: dict, poly: dict, cond: str) -> tuple[float, float, float]:
    """Paired difference-in-differences (mono − poly under ``cond``) − (mono − poly clean), mean and 95 % CI."""
    from monotheory.toy.experiments import t_interval

    seeds = lambda r, c: np.asarray(r[c]["per_seed"], dtype=float)  # noqa: E731
    d = (seeds(row, cond) - seeds(poly, cond)) - (seeds(row, "clean") - seeds(poly, "clean"))
    return t_interval(d)


def near_chance(row: dict, poly: dict, cond: str, chance: float) -> bool:
    """Both regimes' upper 95 % bounds below chance + NEAR_CHANCE_SHARE·(1 − chance) (see the docstring)."""
    bound = chance + NEAR_CHANCE_SHARE * (1.0 - chance)
    return all(r[cond]["ci"][1] < bound for r in (row, poly))


def verdict_for(regime: str, summary: dict, reading: str, cfg, figures: list[str], *, chance: float,
                rules: dict | None = None) -> Verdict:
    """Turn one regime's summary (from run_figure5) into a C5 row (rule: module docstring)."""
    row, poly = summary[regime], summary["poly"]
    clean = _gap(row, "clean")
    gaps = {name: _gap(row, cond) for cond, name in NOISES}
    did = {name: _did(row, poly, cond) for cond, name in NOISES}
    flat = {name: near_chance(row, poly, cond, chance) for cond, name in NOISES}
    better = {name: gaps[name][1] > 0 for name in gaps}
    no_worse = {name: bool(did[name][2] >= 0) for name in did}  # NaN interval → False
    robust = {name: better[name] and no_worse[name] and not flat[name] for name in gaps}
    holds = {"poly better clean": clean[2] < 0,
             "mono better under label noise": better["label"], "mono better under input noise": better["input"],
             "mono loses no more than poly under label noise": no_worse["label"],
             "mono loses no more than poly under input noise": no_worse["input"],
             "label-noise cell informative": not flat["label"], "input-noise cell informative": not flat["input"],
             "mono robust under label noise": robust["label"], "mono robust under input noise": robust["input"]}
    def status_of(ok):
        if holds["poly better clean"] and ok["label"] and ok["input"]:
            return REPRODUCED
        return PARTLY if ok["label"] or ok["input"] else NOT_REPRODUCED

    status = status_of(robust)
    without_chance_rule = status_of({name: better[name] and no_worse[name] for name in gaps})

    def f(g):
        return f"{g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}]"

    def retained(r):
        c = r["clean"]["mean"]
        return {k: (r[k]["mean"] / c if c > 0 else float("nan")) for k, _ in NOISES}

    ret = {regime: retained(row), "poly": retained(poly)}

    def code(r):
        g = summary[r]["geometry"]
        yes = summary[r].get("monosemantic")
        fpu = g["features_per_unit"]
        fpu = f"{fpu:.2f} features/unit" if fpu == fpu else "no feature with ‖W_i‖ > 0.5 in some seed"
        return f"{r} {fpu}, recovery {g['unit_feature_recovery']:.2f} → monosemantic: {'yes' if yes else 'no'}"

    flags = [f"{name}-noise cell uninformative (near or below chance)" for name in flat if flat[name]]
    measured = (f"{regime} − poly accuracy: clean {f(clean)}, label noise {f(gaps['label'])}, input noise "
                f"{f(gaps['input'])}; diff-in-diff vs clean: label {f(did['label'])}, input {f(did['input'])}; "
                f"retained (noise/clean) {regime}/poly: label {ret[regime]['label_noise']:.2f}/"
                f"{ret['poly']['label_noise']:.2f}, input {ret[regime]['input_noise']:.2f}/"
                f"{ret['poly']['input_noise']:.2f}; chance {chance:.3f} (majority class of test labels)"
                f"{'; ' + ', '.join(flags) if flags else ''}; code: {code(regime)}; {code('poly')}; "
                f"class purity {row['monosemanticity']['mean']:.3f} vs poly {poly['monosemanticity']['mean']:.3f}; "
                f"mono robust under: {', '.join(n for n in robust if robust[n]) or 'neither noise'}"
                f"{'' if without_chance_rule == status else f' (without the chance rule: {without_chance_rule})'}")
    cond = (f"{reading}; n={cfg.n}, m={cfg.m}, {cfg.importance} importance, task={cfg.task}, "
            f"{cfg.seeds} seeds ({cfg.seed}–{cfg.seed + cfg.seeds - 1}), {cfg.steps} Adam steps; probe L-BFGS on "
            f"{cfg.probe_train} samples; label noise {cfg.noise_rate:g} {cfg.noise_model}/{cfg.noise_sampling}; "
            f"input noise σ={cfg.sigma:g}")
    ci = lambda t: {"mean": t[0], "ci": [t[1], t[2]]}  # noqa: E731
    details = {"holds": holds,
               "accuracy": {r: {c: summary[r][c] for c in ("clean", "label_noise", "input_noise")}
                            for r in (regime, "poly")},
               "difference_in_differences": {name: ci(did[name]) for name in did},
               "retained_fraction": ret,
               "chance": chance, "near_chance": flat, "status_without_chance_rule": without_chance_rule,
               "near_chance_rule": f"both upper 95 % bounds < chance + {NEAR_CHANCE_SHARE:g}·(1 − chance); "
                                   "chance = majority-class rate of the test labels",
               "monosemantic": {r: summary[r].get("monosemantic") for r in (regime, "poly")},
               "geometry": {regime: row["geometry"], "poly": poly["geometry"]},
               "rules": rules or {}, "config": to_dict(cfg)}
    return Verdict("C5", CLAIM, status, measured=measured, value=gaps["label"][0],
                   interval=(gaps["label"][1], gaps["label"][2]), conditions=cond,
                   label=f"{regime}, S={cfg.sparsity:g}", paper_value="no numbers (figure only)",
                   details=details, figures=figures)


def run(ctx: CheckContext) -> list[Verdict]:
    from monotheory.toy import plots
    from monotheory.toy.experiments import run_figure5_multi

    base = config(ctx.quick, ctx.seed)
    sparsities = [s for s, _ in READINGS]
    results = run_figure5_multi(base, sparsities)
    # A condition found by the sweeps on seeds 0–9 (not a default): the theory's binary task y = 1[x0 > x1],
    # σ = 0.4, η = 0.45 (binary flips must stay < 0.5), at S = 0.8 — evaluated on held-out seeds, trained fresh.
    cond = dataclasses.replace(base, task="pair", sigma=0.4, noise_rate=0.45, sparsity=0.8,
                               seed=base.seed + HELD_OUT_OFFSET)
    cond_result = run_figure5_multi(cond, [0.8])[0]
    held = f"seeds {cond.seed}–{cond.seed + cond.seeds - 1}"
    verdicts = []
    runs = [(s, reading, res, base, "") for (s, reading), res in zip(READINGS, results, strict=True)]
    runs.append((0.8, READINGS[1][1] + f"; CONDITION (found by a sweep on seeds {base.seed}–"
                 f"{base.seed + base.seeds - 1}, evaluated on held-out {held}, trained fresh): pair task, "
                 "σ = 0.4, η = 0.45", cond_result, cond, "_pair"))
    for s, reading, res, cfg0, suffix in runs:
        cfg = dataclasses.replace(cfg0, sparsity=s)
        tag = f"S{s:g}{suffix}"
        fa = plots.plot_wtw(res["WtW_seed0"], ctx.figures_dir / f"c05_fig5a_wtw_{tag}.png",
                            title=f"WᵀW, seed {cfg.seed}, {reading}")
        fb = plots.plot_accuracy_bars(res["summary"], ctx.figures_dir / f"c05_fig5b_accuracy_{tag}.png",
                                      title=f"{reading}; η={cfg.noise_rate:g}, σ={cfg.sigma:g}, {cfg.seeds} seeds")
        figs = [str(fa), str(fb)]
        rules = {"chance": res["chance_rule"], "monosemantic": res["monosemantic_rule"]}
        for regime in cfg.regimes:
            if regime != "poly":
                v = verdict_for(regime, res["summary"], reading, cfg, figs, chance=res["chance"], rules=rules)
                v.label += ", pair task, held-out seeds" if suffix else ""
                verdicts.append(v)
    return verdicts


if __name__ == "__main__":
    raise SystemExit(script_main(run))
