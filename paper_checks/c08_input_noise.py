"""C8 — theory (Appendix B.3): Gaussian input noise N(0, λ²) adds λ² to Var ν_mono and 2λ² to Var ν_poly,
and can reverse the order of separability.

Decided by the one rule (:func:`monotheory.claims.rules.decide_theory`), row by row from exact parts:

* "variance": the added variances at S = 0.2, λ = 0.5 from the exact (SymPy) moments — poly's added variance is
  twice mono's in both classes, and mono's is λ² (exact cells, equal up to 1e-9) — with four Monte Carlo estimates
  (each class, each feature) tested against the exact added variance (z-test, one Holm family at family-wise error
  0.1 %; a difference makes the row an ``error``); value: the exact ratio poly/mono.
* one row per criterion: mono overtakes poly for some λ in [0, 3) (exact for fisher/unnormalized, grid + brentq for
  threshold_error; a yes/no fact, or the exact λ* < 3 when found); value: λ* (None when there is none).
* "reversal vs weights", a CONDITION: ν_poly = w1·x1 − x2 over a grid of w1 (Appendix B.4's weights); two parts,
  a reversal for some w1 under the unnormalized criterion and under Fisher's.

Convention: S = P(feature is zero); y = 1 iff x1 > x2 from the clean x; ties dropped; w = (1, 1).
"""

import numpy as np

from monotheory.claims import rules
from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import ERROR, Verdict
from monotheory.cli.check import script_main
from monotheory.plots import pyplot, save_figure
from monotheory.theory import CRITERIA, appendix_b3, input_noise_reversal, moments, monte_carlo, separability

CLAIM = "Input noise adds λ² to the monosemantic and 2λ² to the polysemantic feature's variance, which can " \
        "reverse the order of separability (App. B.3)"
S_PAPER, LAM, LAM_MAX = 0.2, 0.5, 3.0


def _added(f: str, v: str, lam: float) -> float:
    return float(moments(f, S_PAPER, sigma=lam)[v] - moments(f, S_PAPER)[v])


def _variance_row(ctx, samples) -> tuple:
    """(exact parts, Monte Carlo cells, info) of the "variance" row."""
    b3 = appendix_b3("fisher", n_grid=2)
    ratio = [_added("poly", v, LAM) / _added("mono", v, LAM) for v in ("var0", "var1")]
    coef = [_added("mono", v, LAM) / LAM**2 for v in ("var0", "var1")]
    worst_ratio = max(ratio, key=lambda r: abs(r - 2))
    worst_coef = max(coef, key=lambda c: abs(c - 1))
    parts = [rules.exact_cell("added variance poly/mono = 2 (both classes)", worst_ratio, null=2.0, margin=1e-9),
             rules.exact_cell("added variance of ν_mono = λ² (both classes)", worst_coef, null=1.0, margin=1e-9)]
    mc = monte_carlo(S_PAPER, samples, ctx.seed, sigma=LAM)
    cells, rows = [], []
    for f in ("mono", "poly"):
        clean = moments(f, S_PAPER)
        for v in ("var0", "var1"):
            est, se = mc[f][v]
            exact = _added(f, v, LAM)
            cells.append(rules.estimate_cell(f"Monte Carlo added {v} of ν_{f} vs exact", est - clean[v], se,
                                             null=exact, unit=f"{samples:,} draws"))
            rows.append({"feature": f, "moment": v, "added_mc": est - clean[v], "se": se, "expected": exact})
    mc_ratio = float(np.mean([r["added_mc"] for r in rows if r["feature"] == "poly"])
                     / np.mean([r["added_mc"] for r in rows if r["feature"] == "mono"]))
    return parts, cells, {"b3": b3["added_variance"], "mc": rows, "mc_ratio": mc_ratio, "ratio": worst_ratio}


def _variance_verdict(d, mcres, err, info, samples) -> Verdict:
    return Verdict("C8", CLAIM, ERROR if err else d.outcome, label="variance", value=info["ratio"], interval=None,
                   measured=f"added variance (SymPy): mono {info['b3']['mono']}, poly {info['b3']['poly']}; exact "
                            f"poly/mono = {info['ratio']:.12g} at λ = {LAM}; decided by {d.decided_by} ({d.reason}); "
                            f"Monte Carlo poly/mono added = {info['mc_ratio']:.4f} ({samples:,} draws): "
                            + (f"DIFFERS from the exact values ({err})" if err else "agrees with the exact values"),
                   conditions="noise added to each input after labelling; S = 0.2; ties dropped; w = (1, 1); value: "
                              "exact (no interval); Monte Carlo vs exact: one Holm family of the 4 estimates at "
                              "family-wise error 0.1 % (monotheory.claims.rules)",
                   paper_value="λ² vs 2λ²", details={"exact": info["b3"], "mc": info["mc"], "decision": d.to_dict(),
                                                      "monte_carlo": [r.to_dict() for r in mcres]})


def _weights_row(ctx) -> Verdict:
    """A condition, not the default: ν_poly = w1·x1 − x2 (Appendix B.4's weights) over a grid of w1.

    The unnormalised criterion Δμ/(σ0²+σ1²) is not scale-invariant (it scales as 1/w for ν_poly), so the
    weights decide who is ahead at λ = 0; Fisher's criterion is scale-invariant. Reported for both.
    """
    w1s = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]
    found = {}
    for crit in ("fisher", "unnormalized"):
        found[crit] = []
        for w in w1s:
            r = input_noise_reversal(crit, S_PAPER, weights=(w, 1.0), upper=LAM_MAX)
            found[crit].append({"w1": w, "reversal": r.value, "note": r.note})
    hits = [(d["w1"], d["reversal"]) for d in found["unnormalized"] if d["reversal"] is not None]
    fisher_hits = [d["w1"] for d in found["fisher"] if d["reversal"] is not None]
    text = ", ".join(f"w1 = {w:g}: λ* = {x:.3g}" for w, x in hits) or "none"
    d = rules.decide([rules.exact_fact("unnormalized: a reversal for some w1", bool(hits)),
                      rules.exact_fact("fisher: a reversal for some w1", bool(fisher_hits))])
    return Verdict(
        "C8", CLAIM, d.outcome, label="reversal vs weights", value=None, interval=None,
        measured=f"unnormalized: reversal at {text} (of w1 in {w1s}); fisher: reversal at "
                 f"{', '.join(map(str, fisher_hits)) or 'no w1'}; decided by {d.decided_by} ({d.reason})",
        conditions="CONDITION, not the default: ν_poly = w1·x1 − x2, S = 0.2, λ in [0, 3), ties dropped; the "
                   "unnormalised criterion depends on the feature's scale (for w1 ≥ 2 mono is ahead already at "
                   "λ = 0), Fisher's does not; two exact parts (monotheory.claims.rules)",
        paper_value="the order can reverse (App. B.3, B.4 weights)", details={"scan": found, "decision": d.to_dict()})


def run(ctx: CheckContext) -> list[Verdict]:
    samples = 50_000 if ctx.quick else 2_000_000
    lams = np.linspace(0, LAM_MAX, 16 if ctx.quick else 61)
    parts, cells, info = _variance_row(ctx, samples)
    (d, mcres, err), = rules.decide_theory([(parts, cells)])
    verdicts = [_variance_verdict(d, mcres, err, info, samples)]
    curves = {}
    for crit in CRITERIA:
        m = np.array([separability(crit, "mono", S_PAPER, sigma=float(x)) for x in lams])
        p = np.array([separability(crit, "poly", S_PAPER, sigma=float(x)) for x in lams])
        curves[crit] = {"lambda": lams, "mono": m, "poly": p}
        r = input_noise_reversal(crit, S_PAPER, upper=LAM_MAX, n_grid=31 if ctx.quick else 61)
        end = (m[-1] - p[-1]) if crit == "threshold_error" else p[-1] / m[-1]
        what = "error_mono − error_poly" if crit == "threshold_error" else "poly/mono"
        part = (rules.exact_cell(f"reversal λ* < {LAM_MAX:g}", r.value, null=LAM_MAX, direction=-1)
                if r.value is not None else rules.exact_fact(f"a reversal for some λ in [0, {LAM_MAX:g})", False))
        dr = rules.decide([part])
        verdicts.append(Verdict(
            "C8", CLAIM, dr.outcome, label=f"reversal/{crit}", value=r.value, interval=None,
            measured=f"reversal in λ: {r.describe()}; {what} at λ = {LAM_MAX:g}: {end:.4g}; decided by "
                     f"{dr.decided_by} ({dr.reason})",
            conditions="the paper's normalisation of 'separation' is unknown; S = 0.2, no label noise, ties "
                       "dropped, w = (1, 1); value: the exact λ* (no interval; none when there is no reversal)",
            paper_value="the order can reverse", details={"reversal": r.__dict__, f"{what}_at_lambda_max": float(end),
                                                          "decision": dr.to_dict()},
            figures=[str(ctx.figures_dir / "c08_separability_vs_lambda.png")]))
    verdicts.append(_weights_row(ctx))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(CRITERIA), figsize=(12, 3.4))
    for ax, crit in zip(axes, CRITERIA, strict=True):
        ax.plot(lams, curves[crit]["mono"], label="mono")
        ax.plot(lams, curves[crit]["poly"], label="poly")
        ax.set(xlabel="input-noise λ", title=crit + (" (lower = better)" if crit == "threshold_error" else ""))
        if crit != "threshold_error":
            ax.set_yscale("log")
    axes[0].legend()
    save_figure(fig, ctx.figures_dir / "c08_separability_vs_lambda.png", data=curves)
    return verdicts


if __name__ == "__main__":
    raise SystemExit(script_main(run))
