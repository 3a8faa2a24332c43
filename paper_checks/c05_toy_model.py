"""C5 — toy model (Section 4.2, Figure 5): poly better on clean data, mono better under label and input noise.

The paper's toy setup is only partly known (PAPER.md §4): n = 40 features, m = 20 hidden, "S = 0.2", a
linear classifier on h, 90 % label noise, Gaussian input noise on the validation inputs. Everything else is
a parameter of :mod:`monotheory.toy`; this check uses the library defaults (chosen before looking at the
outcome: argmax task with n + 1 classes, uniform importance, σ = 0.2 ≈ 0.6 feature standard deviations
like the paper's σ = 0.6 on standardised pixels, flip/exact label noise, L-BFGS probe without weight
decay on 4096 samples) and, because "S = 0.2" is ambiguous, BOTH readings: S = P(zero) = 0.2 (Elhage's
convention, the project's) and feature probability 0.2 (S = 0.8). One row per (reading, mono regime):

* reproduced — poly − mono > 0 clean AND mono − poly > 0 under label noise AND under input noise, each
  with its paired 95 % t-interval (over seeds) excluding 0;
* partly reproduced — mono is better under at least one of the two noises, but not all three hold;
* not reproduced — mono is better under neither noise (whether or not poly is better clean).

A ninth to twelfth row report a condition found by ``monotheory toy sweep`` (not a default): the theory's
binary task y = 1[x_0 > x_1] at S = 0.8 with σ = 0.4 and η = 0.45, evaluated on the same trained models.

The headline value is the label-noise gap mono − poly with its interval; the other gaps, the accuracies,
the relative drops and the monosemanticity score of each hidden code are in ``measured`` / ``details``.
"""

from __future__ import annotations

import dataclasses

from monotheory.checks import CheckContext, script_main
from monotheory.config import to_dict
from monotheory.report import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict

CLAIM = "toy model: poly better on clean data, mono better under label noise and under input noise (Fig. 5)"
READINGS = ((0.2, "S = P(zero) = 0.2"), (0.8, "feature probability 0.2 (S = 0.8)"))


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


def verdict_for(regime: str, summary: dict, reading: str, cfg, figures: list[str]) -> Verdict:
    """Turn one regime's summary (from run_figure5) into a C5 row."""
    row, poly = summary[regime], summary["poly"]
    clean, label, inp = (_gap(row, c) for c in ("clean", "label_noise", "input_noise"))
    holds = {"poly better clean": clean[2] < 0, "mono better under label noise": label[1] > 0,
             "mono better under input noise": inp[1] > 0}
    n_ok = sum(holds.values())
    robust = holds["mono better under label noise"] or holds["mono better under input noise"]
    status = REPRODUCED if n_ok == 3 else PARTLY if robust else NOT_REPRODUCED

    def f(g):
        return f"{g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}]"

    def retained(r):
        c = r["clean"]["mean"]
        return {k: (r[k]["mean"] / c if c > 0 else float("nan")) for k in ("label_noise", "input_noise")}

    measured = (f"{regime} − poly accuracy: clean {f(clean)}, label noise {f(label)}, input noise {f(inp)}; "
                f"monosemanticity {row['monosemanticity']['mean']:.3f} vs poly {poly['monosemanticity']['mean']:.3f}; "
                f"holds: {', '.join(k for k, v in holds.items() if v) or 'none'}")
    cond = (f"{reading}; n={cfg.n}, m={cfg.m}, {cfg.importance} importance, task={cfg.task}, "
            f"{cfg.seeds} seeds, {cfg.steps} Adam steps; probe L-BFGS on {cfg.probe_train} samples; label noise "
            f"{cfg.noise_rate:g} {cfg.noise_model}/{cfg.noise_sampling}; input noise σ={cfg.sigma:g}")
    details = {"holds": holds, "accuracy": {r: {c: summary[r][c] for c in ("clean", "label_noise", "input_noise")}
                                            for r in (regime, "poly")},
               "retained_fraction": {regime: retained(row), "poly": retained(poly)},
               "geometry": {regime: row["geometry"], "poly": poly["geometry"]}, "config": to_dict(cfg)}
    return Verdict("C5", CLAIM, status, measured=measured, value=label[0], interval=(label[1], label[2]),
                   conditions=cond, label=f"{regime}, S={cfg.sparsity:g}", paper_value="no numbers (figure only)",
                   details=details, figures=figures)


def run(ctx: CheckContext) -> list[Verdict]:
    from monotheory.toy import plots
    from monotheory.toy.experiments import run_figure5_multi

    base = config(ctx.quick, ctx.seed)
    sparsities = [s for s, _ in READINGS]
    results, trained = run_figure5_multi(base, sparsities, return_trained=True)
    # A condition found by the sweeps (not a default): the theory's binary task y = 1[x0 > x1] on the same
    # trained models (training does not depend on the task), σ = 0.4, η = 0.45 (binary flips must stay < 0.5).
    cond = dataclasses.replace(base, task="pair", sigma=0.4, noise_rate=0.45)
    cond_results = run_figure5_multi(cond, sparsities, trained=trained)
    verdicts = []
    runs = [(s, reading, res, base, "") for (s, reading), res in zip(READINGS, results, strict=True)]
    runs.append((0.8, READINGS[1][1] + "; CONDITION: pair task, σ = 0.4, η = 0.45", cond_results[1], cond, "_pair"))
    for s, reading, res, cfg0, suffix in runs:
        cfg = dataclasses.replace(cfg0, sparsity=s)
        tag = f"S{s:g}{suffix}"
        fa = plots.plot_wtw(res["WtW_seed0"], ctx.figures_dir / f"c05_fig5a_wtw_{tag}.png",
                            title=f"WᵀW, seed {cfg.seed}, {reading}")
        fb = plots.plot_accuracy_bars(res["summary"], ctx.figures_dir / f"c05_fig5b_accuracy_{tag}.png",
                                      title=f"{reading}; η={cfg.noise_rate:g}, σ={cfg.sigma:g}, {cfg.seeds} seeds")
        figs = [str(fa), str(fb)]
        for regime in cfg.regimes:
            if regime != "poly":
                v = verdict_for(regime, res["summary"], reading, cfg, figs)
                v.label += ", pair task" if suffix else ""
                verdicts.append(v)
    return verdicts


if __name__ == "__main__":
    raise SystemExit(script_main(run))
