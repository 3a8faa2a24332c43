"""C6 — theory: without noise the polysemantic feature ν_poly = x1 − x2 is more separable than ν_mono = x1.

Exact (SymPy closed forms, Theorem 4.1) at the paper's S = 0.2 and over a grid of S in [0, 1), plus a Monte
Carlo estimate at S = 0.2. One row per separability criterion (the paper's criterion is not known to us):
fisher and unnormalized report J_poly / J_mono (> 1: poly ahead); threshold_error reports error_mono −
error_poly (> 0: poly ahead). Convention: S = P(feature is zero); y = 1 iff x1 > x2; ties (x1 = x2 = 0)
dropped; w = (1, 1).

Decided by the one rule (:func:`monotheory.claims.rules.decide_theory`): two exact parts per row — poly ahead at
S = 0.2, and poly ahead at every S of the grid (the smallest margin over the grid) — reproduced when both hold,
partly when one does; the value is the deciding part's exact value (no interval: it is exact). The Monte Carlo
estimate of each row is tested against the exact value (z-test; the three rows' estimates are one Holm family at
family-wise error 0.1 %); a difference makes the row an ``error``.
"""

import numpy as np

from monotheory.claims import rules
from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import ERROR, Verdict
from monotheory.cli.check import script_main
from monotheory.plots import pyplot, save_figure
from monotheory.seeding import generator
from monotheory.theory import CRITERIA, monte_carlo, separability, theorem_4_1

CLAIM = "Without noise, the polysemantic feature is more linearly separable than the monosemantic one (Thm 4.1)"
S_PAPER = 0.2


def _compare(criterion, a_mono, a_poly):
    """Headline: ratio poly/mono for fisher & unnormalized, error difference mono − poly for threshold."""
    return a_mono - a_poly if criterion == "threshold_error" else a_poly / a_mono


def run(ctx: CheckContext) -> list[Verdict]:
    samples = 50_000 if ctx.quick else 2_000_000
    grid = np.linspace(0, 1, 21 if ctx.quick else 101, endpoint=False)
    thm = {r.name: r for r in theorem_4_1(n_grid=201 if ctx.quick else 2001)}
    mc = monte_carlo(S_PAPER, samples, generator(ctx.seed, "c06", "mono"), threshold=True)
    mc2 = monte_carlo(S_PAPER, samples, generator(ctx.seed, "c06", "poly"), threshold=True)  # independent draws for the ratio's SE
    curves, rows, info = {}, [], []
    for crit in CRITERIA:
        m = np.array([separability(crit, "mono", s) for s in grid])
        p = np.array([separability(crit, "poly", s) for s in grid])
        curves[crit] = {"S": grid, "mono": m, "poly": p}
        exact = _compare(crit, separability(crit, "mono", S_PAPER), separability(crit, "poly", S_PAPER))
        (em, sm), (ep, spp) = mc["mono"][crit], mc2["poly"][crit]
        est = _compare(crit, em, ep)
        if crit == "threshold_error":
            se, null, margin = float(np.hypot(sm, spp)), 0.0, float(np.min(m - p))
        else:
            se, null, margin = est * float(np.hypot(sm / em, spp / ep)), 1.0, float(np.min(p / m))
        parts = [rules.exact_cell(f"poly ahead at S = {S_PAPER}", exact, null=null),
                 rules.exact_cell(f"poly ahead at every S of {len(grid)} in [0, 1) (smallest margin)", margin,
                                  null=null)]
        rows.append((parts, [rules.estimate_cell(f"Monte Carlo at S = {S_PAPER} vs exact", est, se, null=exact,
                                                 unit=f"{samples:,} draws per feature")]))
        info.append((crit, exact, est, se, margin))
    verdicts = []
    for (crit, exact, est, se, margin), (d, mcres, err) in zip(info, rules.decide_theory(rows), strict=True):
        what = "J_poly/J_mono" if crit != "threshold_error" else "error_mono − error_poly"
        cell = next(c for c in d.cells if c.name == d.decided_by)
        lo, hi = (exact + x for x in mcres[0].interval) if mcres[0].interval is not None else (np.nan, np.nan)
        verdicts.append(Verdict(
            "C6", CLAIM, ERROR if err else d.outcome, label=crit, value=cell.raw_value, interval=None,
            measured=f"{what} = {exact:.4g} exact at S = {S_PAPER}; smallest over the grid {margin:.4g} (poly ahead "
                     f"everywhere: {d.cells[1].outcome}); decided by "
                     f"{d.decided_by} ({d.reason}); Monte Carlo {est:.4g} ± {se:.2g} (SE), "
                     f"{100 * mcres[0].level:.2f} % interval [{lo:.4g}, {hi:.4g}]: "
                     + (f"DIFFERS from the exact value ({err})" if err else "agrees with the exact value"),
            conditions="spike-and-uniform, 2 features, y = 1 iff x1 > x2, ties dropped, w = (1, 1); the paper's "
                       "separability criterion is unknown; value: exact (no interval); Monte Carlo vs exact: one "
                       "Holm family of the 3 rows' estimates at family-wise error 0.1 % (monotheory.claims.rules)",
            paper_value="poly more separable on clean data (Thm 4.1)",
            details={"exact": exact, "mc": est, "mc_se": se, "grid_min_margin": margin, "decision": d.to_dict(),
                     "monte_carlo": [r.to_dict() for r in mcres],
                     "theorem_4_1": {k: {"proved": r.proved, "holds_on": r.holds_on, "statement": r.statement}
                                     for k, r in thm.items()}},
            figures=[str(ctx.figures_dir / "c06_separability_vs_sparsity.png")]))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(CRITERIA), figsize=(12, 3.4))
    for ax, crit in zip(axes, CRITERIA, strict=True):
        c = curves[crit]
        ax.plot(c["S"], c["mono"], label="mono (x1)")
        ax.plot(c["S"], c["poly"], label="poly (x1 − x2)")
        ax.axvline(S_PAPER, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="sparsity S", title=crit + (" (lower = better)" if crit == "threshold_error" else ""))
    axes[0].legend()
    save_figure(fig, ctx.figures_dir / "c06_separability_vs_sparsity.png", data=curves)
    return verdicts


if __name__ == "__main__":
    raise SystemExit(script_main(run))
