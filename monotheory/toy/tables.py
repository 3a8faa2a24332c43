"""Rows and tables of the C5 control grid (``monotheory toy controls``, ``make toy-controls``).

:func:`control_rows` and :func:`control_tables` list every row of paired cells and every difference-in-
differences table of a grid result (undecided; :mod:`monotheory.claims.toy_controls` decides them);
:func:`controls_md` writes the decided rows, the tables and the premise measures of every code as Markdown.
Torch-free.
"""

from __future__ import annotations

from monotheory.toy import TOPK_REGIMES
from monotheory.toy.controls import mechanism, mechanism_md, regime_key, row


def mono_keys(res: dict) -> list[str]:
    """The mono regimes of the rows: every trained top-k code, the oracle, every oracle-topk (k named)."""
    keys = []
    for r in ("mono-topk", "oracle", "oracle-topk"):
        if r in res["regimes"]:
            keys += [regime_key(r, k) for k in (res["ks"] if r in TOPK_REGIMES else [None])]
    return keys


def control_rows(res: dict, tasks, sparsities, labels, sigma_sds) -> list[dict]:
    """Every row of the grid (undecided): per task, S, label variant, σ and mono regime."""
    return [row(res, task, S, lab, key, sd) for task in tasks for S in sparsities for lab in labels
            for sd in sigma_sds for key in mono_keys(res)
            if lab == "all" or not key.startswith("mono-") or res.get("matched_trained", True)]


def control_tables(res: dict, tasks, sparsities, labels, sigma_sds) -> list[dict]:
    """The DiD mechanism table of every (task, S, labels, σ), undecided."""
    return [mechanism(res, t, S, lab, sd) for t in tasks for S in sparsities for lab in labels for sd in sigma_sds]


def _cell(c: dict) -> str:
    """mono − poly with its interval at Holm's step level; ``*`` = decided (either direction), ``n.e.`` = not
    estimable."""
    ci = "n.e." if c["interval"] is None else f"[{c['interval'][0]:+.3f}, {c['interval'][1]:+.3f}]"
    return f"{c['estimate']:+.3f} {ci}{'*' if c['outcome'] != 'inconclusive' else ''}"


def rows_md(rows: list[dict]) -> str:
    """The decided rows: mono − poly per cell (``*`` = Holm-significant in either direction)."""
    lines = ["| task | S | labels | mono | σ (sd) | clean | label noise | input noise | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(_cell(c) for c in r["decision"]["cells"])
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
            "Decided by `monotheory.claims.rules` (each row its own family: two-sided paired t over seeds, Holm, "
            "intervals at Holm's step level; `*` = decided, `n.e.` = not estimable).\n\n"
            f"{rows_md(rows)}\n## Differences-in-differences (Holm within each table)\n\n{mechanism_md(tables)}\n"
            f"## Premise measures of every code\n\n{res['monosemantic_rule']}\n\n{codes_md(res)}")
