"""C5's rows and mechanism tables decided by the one rule (:mod:`monotheory.claims.rules`).

The toy layer measures (:mod:`monotheory.toy.grid`) and lists what to compare (:mod:`monotheory.toy.controls`:
rows of paired cells with a premise, undecided DiD tables); this module, one layer up, decides them, for the
check (``paper_checks/c05_toy_model.py``) and for ``monotheory toy controls`` alike:

* a **row** (mono vs poly under one condition) is its own family of three cells, mono − poly per seed:
  clean (claimed < 0), under label noise (claimed > 0), under input noise (claimed > 0); its premise is that
  mono is measured monosemantic on every seed and poly polysemantic on every seed (label-free rule on W);
* a **mechanism table** (one task, S, label variant, σ) is one family of DiD cells, DiD = (a − b under the
  noise) − (a − b clean) paired over seeds, no claimed direction: a decided cell names the contrast that
  carries the noise's effect ("helps" when the noise hurts a less than b).
"""

from __future__ import annotations

from monotheory.claims import rules
from monotheory.toy.controls import carriers

ALPHA = rules.ALPHA
PREMISE = "mono measured monosemantic on every seed and poly polysemantic on every seed"


def decide_row(r: dict) -> dict:
    """One row of :func:`monotheory.toy.controls.row` decided: the rule's ``Decision`` as a dict (``outcome``,
    ``decided_by``, ``value``, ``interval`` — the deciding cell's —, ``reason``, ``cells``, ``premise``)."""
    cells = [rules.Cell(c["name"], c["mono"], c["poly"], direction=c["sign"], chance=r["chance"], bounds=(-1.0, 1.0))
             for c in r["cells"]]
    pre = r["premise"]
    statement = PREMISE + (f" ({pre['why']})" if pre["why"] else "")
    return rules.decide(cells, rules.Premise(statement, bool(pre["holds"]), pre["measured"]), ALPHA).to_dict()


def decide_mechanism(table: dict) -> dict:
    """One table of :func:`monotheory.toy.controls.mechanism` decided as one family; returns the table with
    ``mean``, ``ci`` (Holm's step level), ``level``, ``p_value``, ``p_holm``, ``degenerate``, ``significant``
    on every row (the per-seed arrays dropped) and the ``carriers``."""
    cells = [rules.Cell(f"{r['a']} − {r['b']}, {r['noise']}", r["noisy"], r["clean"], bounds=(-2.0, 2.0))
             for r in table["rows"]]
    rows = []
    for r, c in zip(table["rows"], rules.decide_family(cells, ALPHA), strict=True):
        rows.append({k: v for k, v in r.items() if k not in ("noisy", "clean")}
                    | {"mean": c.estimate, "ci": c.interval, "level": c.level, "p_value": c.p_value,
                       "p_holm": c.p_holm, "degenerate": c.degenerate, "significant": c.outcome != rules.INCONCLUSIVE})
    return {**table, "rows": rows, "carriers": carriers(rows),
            "correction": "one family per table (claims.rules: two-sided paired t, Holm, intervals at Holm's step level)"}


def decided_rows(rows: list[dict]) -> list[dict]:
    """Rows as JSON-ready summaries with their decision (``verdict`` = the outcome); per-seed arrays in
    ``decision.cells`` are the rule's (estimate, interval, p)."""
    out = []
    for r in rows:
        d = decide_row(r)
        out.append({k: r[k] for k in ("task", "sparsity", "labels", "mono", "sigma_sd", "noise_rate",
                                      "label_features", "chance")}
                   | {"premise": {k: r["premise"][k] for k in ("holds", "why", "measured")}, "verdict": d["outcome"],
                      "decision": d})
    return out
