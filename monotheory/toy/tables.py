"""Rows, verdicts and tables of the C5 control grid (``monotheory toy controls``, ``make toy-controls``).

:func:`decide` turns one row of paired cells (:func:`monotheory.toy.controls.row`) into a verdict;
:func:`control_rows` decides every row of a grid result; :func:`controls_md` writes the rows, the
difference-in-differences tables and the premise measures of every code as Markdown. Torch-free.
"""

from __future__ import annotations

import numpy as np

from monotheory.stats import holm
from monotheory.toy.controls import TOPK_REGIMES, mechanism, mechanism_md, paired, regime_key, row

ALPHA = 0.05
REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, NOT_A_TEST = (
    "reproduced", "partly reproduced", "not reproduced", "inconclusive", "not a test")


def decide(r: dict) -> dict:
    """The row's verdict from its cells: two-sided paired t per cell, Holm within the row; a cell *holds* when
    its Holm p < α in the claimed direction, is *opposite* at that level the other way, else *inconclusive*
    (its interval contains 0 after the correction). Not a test without the premise; reproduced = every cell
    holds; partly = some hold; not reproduced = none holds and some cell is opposite; otherwise inconclusive.
    ``deciding``: the cell whose value and interval the row shows (the weakest holding cell, else the strongest
    opposite one, else the cell nearest to significance)."""
    stats = [paired(c["mono"], c["poly"]) for c in r["cells"]]
    adj = holm([s["p_value"] if s["p_value"] == s["p_value"] else 1.0 for s in stats])
    out = []
    for c, s, p in zip(r["cells"], stats, adj, strict=True):
        sig = p < ALPHA and not s.get("degenerate")
        outcome = ("holds" if np.sign(s["mean"]) == c["sign"] else "opposite") if sig else "inconclusive"
        out.append({"name": c["name"], "sign": c["sign"], "mean": s["mean"], "ci": s["ci"], "p": s["p_value"],
                    "p_holm": float(p), "outcome": outcome, "n": s["n"], "degenerate": bool(s.get("degenerate"))})
    holds = [c for c in out if c["outcome"] == "holds"]
    opposite = [c for c in out if c["outcome"] == "opposite"]
    if not r["premise"]["holds"]:
        status, deciding = NOT_A_TEST, None
    elif len(holds) == len(out):
        status, deciding = REPRODUCED, max(holds, key=lambda c: c["p_holm"])
    elif holds:
        status, deciding = PARTLY, max(holds, key=lambda c: c["p_holm"])
    elif opposite:
        status, deciding = NOT_REPRODUCED, min(opposite, key=lambda c: c["p_holm"])
    else:
        status, deciding = INCONCLUSIVE, min(out, key=lambda c: c["p_holm"])
    return {"status": status, "cells": out, "deciding": deciding}


def mono_keys(res: dict) -> list[str]:
    """The mono regimes of the rows: every trained top-k code, the oracle, every oracle-topk (k named)."""
    keys = []
    for r in ("mono-topk", "oracle", "oracle-topk"):
        if r in res["regimes"]:
            keys += [regime_key(r, k) for k in (res["ks"] if r in TOPK_REGIMES else [None])]
    return keys


def control_rows(res: dict, tasks, sparsities, labels, sigma_sds) -> list[dict]:
    """Every row of the grid, decided: per task, S, label variant, σ and mono regime."""
    out = []
    for task in tasks:
        for S in sparsities:
            for lab in labels:
                for sd in sigma_sds:
                    for key in mono_keys(res):
                        r = row(res, task, S, lab, key, sd)
                        d = decide(r)
                        out.append({k: r[k] for k in ("task", "sparsity", "labels", "mono", "sigma_sd", "noise_rate",
                                                      "label_features", "chance")}
                                   | {"premise": {k: r["premise"][k] for k in ("holds", "why", "measured")},
                                      "verdict": d["status"], "cells": d["cells"], "deciding": d["deciding"]})
    return out


def control_tables(res: dict, tasks, sparsities, labels, sigma_sds) -> list[dict]:
    """The DiD mechanism table of every (task, S, labels, σ)."""
    return [mechanism(res, t, S, lab, sd) for t in tasks for S in sparsities for lab in labels for sd in sigma_sds]


def _cell(c: dict) -> str:
    return f"{c['mean']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]{'*' if c['outcome'] != 'inconclusive' else ''}"


def rows_md(rows: list[dict]) -> str:
    """The decided rows: mono − poly per cell (``*`` = Holm-significant in either direction)."""
    lines = ["| task | S | labels | mono | σ (sd) | clean | label noise | input noise | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(_cell(c) for c in r["cells"])
        verdict = r["verdict"] + ("" if r["premise"]["holds"] else f" ({r['premise']['why']})")
        lines.append(f"| {r['task']} | {r['sparsity']:g} | {r['labels']} | {r['mono']} | {r['sigma_sd']:g} | {cells} | "
                     f"{verdict} |")
    return "\n".join(lines) + "\n"


def codes_md(res: dict) -> str:
    """The premise measures of every code (seed means; share of seeds measured monosemantic)."""
    lines = ["| S | code | represented | interference | features/unit | recovery | fires with own feature | "
             "monosemantic seeds |", "|---|---|---|---|---|---|---|---|"]
    for S, codes in res["codes"].items():
        for key, c in codes.items():
            per = [c.get(k) for k in ("features_per_unit", "unit_feature_recovery", "selectivity")]
            fmt = " | ".join("—" if v is None else f"{v:.2f}" for v in per)
            n_mono = sum(c["monosemantic_per_seed"])
            lines.append(f"| {S} | {key} | {c['represented']:.1f} | {c['interference']:.3f} | {fmt} | "
                         f"{n_mono}/{len(c['monosemantic_per_seed'])} |")
    return "\n".join(lines) + "\n"


def controls_md(res: dict, rows: list[dict], tables: list[dict], header: str) -> str:
    """The whole controls report as Markdown."""
    return (f"# C5 control grid\n\n{header}\n\n## Rows (mono − poly; claimed: < 0 clean, > 0 under noise)\n\n"
            f"{rows_md(rows)}\n## Differences-in-differences (Holm within each table)\n\n{mechanism_md(tables)}\n"
            f"## Premise measures of every code\n\n{res['monosemantic_rule']}\n\n{codes_md(res)}")
