"""Verdicts: one row of the paper-check table per claim (or per criterion of a claim), and the table files.

A :class:`Verdict` is the claim, what the software measured, an interval, the conditions of the measurement,
and one of the decision rule's outcomes (:mod:`monotheory.claims.rules`: ``reproduced`` / ``not reproduced`` /
``inconclusive`` / ``partly reproduced`` / ``not a test``), ``skipped`` (cannot run here; the reason in
``conditions``) or ``error``. :func:`write_verdicts` writes ``verdicts.json`` and ``verdicts.md`` atomically
(:mod:`monotheory.files`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from monotheory.claims.rules import INCONCLUSIVE, NOT_A_TEST, NOT_REPRODUCED, PARTLY, REPRODUCED
from monotheory.files import atomic_write_json, atomic_write_text, to_jsonable

SKIPPED = "skipped"
ERROR = "error"
STATUSES = (REPRODUCED, PARTLY, NOT_REPRODUCED, SKIPPED, ERROR, INCONCLUSIVE, NOT_A_TEST)


@dataclasses.dataclass
class Verdict:
    """One claim of the paper, checked.

    ``claim_id`` is the paper claim (``"C7"``; several rows may share one id, e.g. one per criterion, told
    apart by ``label``). ``value`` is the headline number and ``interval`` its (lo, hi) uncertainty
    (a confidence interval, or an exact value repeated); ``measured`` says in words what was measured.
    """

    claim_id: str
    claim: str
    verdict: str
    measured: str = ""
    value: float | None = None
    interval: tuple[float, float] | None = None
    conditions: str = ""
    label: str = ""
    paper_value: str = ""
    details: dict = dataclasses.field(default_factory=dict)
    figures: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in STATUSES:
            raise ValueError(f"verdict = {self.verdict!r} is unknown; choose one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict:
        return to_jsonable(dataclasses.asdict(self))

    def row(self) -> str:
        """A one-line, human-readable form (printed by the check scripts)."""
        name = f"{self.claim_id}{' ' + self.label if self.label else ''}"
        val = "" if self.value is None else f" value={_g(self.value)}"
        ci = "" if self.interval is None else f" [{_g(self.interval[0])}, {_g(self.interval[1])}]"
        return f"{name:<18} {self.verdict.upper():<18}{val}{ci}  {self.measured}"


def _g(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        return f"{x:.4g}"
    return str(x)


def skipped(claim_id: str, claim: str, reason: str, **kw: Any) -> Verdict:
    """A row for a check that cannot run here (no data, no GPU), with the reason."""
    return Verdict(claim_id=claim_id, claim=claim, verdict=SKIPPED, conditions=reason, **kw)


# ------------------------------------------------------------------------------------------- verdict table


def verdicts_markdown(verdicts: list[Verdict], title: str = "monotheory: verdicts on the paper's claims",
                      base: str | os.PathLike | None = None) -> str:
    """The verdict table as Markdown: one row per verdict, then each figure once.

    A relative figure path is taken to be relative to the folder the Markdown file lies in (as
    :func:`relative_figures` stores them) and linked as it is; an absolute one is made relative to ``base`` (that
    folder) when given. The text never depends on the working folder, so ``monotheory verify`` can rebuild it
    from anywhere."""
    lines = [f"# {title}", "", "## The answer, claim by claim", "", *answer_lines(verdicts), "",
             "## Every row", "",
             "| claim | verdict | measured | value | interval | paper | conditions |",
             "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        name = f"{v.claim_id}{' (' + v.label + ')' if v.label else ''}"
        ci = "" if v.interval is None else f"[{_g(v.interval[0])}, {_g(v.interval[1])}]"
        cells = [name, f"**{v.verdict}**", v.measured, _g(v.value) if v.value is not None else "", ci,
                 v.paper_value, v.conditions]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    counts = {s: sum(v.verdict == s for v in verdicts) for s in STATUSES}
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), ""]
    figs = list(dict.fromkeys((v.claim_id, _link(f, base)) for v in verdicts for f in v.figures))
    if figs:
        lines += ["## Figures", ""] + [f"- {cid}: ![{Path(f).name}]({f})" for cid, f in figs] + [""]
    lines.append("Claims are numbered as in the project's paper summary (C1–C11). Each row is what the software "
                 "measured on this machine; `skipped` rows name what they need.")
    return "\n".join(lines) + "\n"


CLAIM_NAMES = {
    "C1": "ImageNet-100 clean: monosemantic features cost no accuracy",
    "C2": "ImageNet-100, 90 % label noise: NCL and SAE beat CL",
    "C3": "ImageNet-100, input noise σ = 0.6: NCL and SAE beat CL",
    "C4": "CIFAR-100 clean: NCL costs at most slightly",
    "C5": "toy model: poly better clean, mono better under label and input noise",
    "C6": "theory: poly more separable without noise",
    "C7": "theory: mono more separable above ~25 % label noise",
    "C8": "theory: input noise adds λ² vs 2λ² and can reverse the order",
    "C9": "fine-tuning under label noise: NCE lower train, higher validation accuracy",
    "C10": "few-shot fine-tuning: NCE at least as accurate as CE",
    "C11": "MonoLoRA: same task score, better alignment",
}
TESTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY)


def claim_verdict(rows: list[Verdict]) -> str:
    """One word for a claim from its rows: the rows that are tests decide (all reproduced → reproduced; some
    reproduced or partly → partly; none, some not reproduced → not reproduced; else inconclusive); a claim without
    such rows takes the most severe of the rest (error, not a test, skipped)."""
    tests = [r.verdict for r in rows if r.verdict in TESTS]
    if not tests:
        rest = {r.verdict for r in rows}
        return next(s for s in (ERROR, NOT_A_TEST, SKIPPED) if s in rest)
    if all(t == REPRODUCED for t in tests):
        return REPRODUCED
    if any(t in (REPRODUCED, PARTLY) for t in tests):
        return PARTLY
    return NOT_REPRODUCED if NOT_REPRODUCED in tests else INCONCLUSIVE


def _s(x: float) -> str:
    return f"{x:+.3g}"


def _short(v: Verdict) -> str:
    """``label: verdict +value [lo, hi] (why)``: signed, 3 significant digits; *why* is the deciding cell's reason
    when the row records a short one (e.g. "interval contains 0"), in the row's units where it says them (``why``)."""
    val = "" if v.value is None else f" {_s(v.value)}"
    ci = "" if v.interval is None else f" [{_s(v.interval[0])}, {_s(v.interval[1])}]"
    d = v.details if isinstance(v.details, dict) else {}
    why = d.get("why") or (d.get("decision") or {}).get("reason")  # "why": the reason in the row's units
    why = f" ({why})" if isinstance(why, str) and 0 < len(why) <= 60 else ""
    return f"{v.label or v.claim_id}: {v.verdict}{val}{ci}{why}"


def _cells(v: Verdict) -> list[dict]:
    d = v.details if isinstance(v.details, dict) else {}
    cells = (d.get("decision") or {}).get("cells") if isinstance(d.get("decision"), dict) else None
    return cells if isinstance(cells, list) else []


def parts_summary(rows: list[Verdict]) -> str:
    """For a claim whose rows that are tests share the same parts (e.g. C5's clean / label noise / input noise):
    in how many of those rows each part holds, goes the other way or is undecided, and how many rows are not a
    test. Empty when there are fewer than two such rows or their parts differ."""
    tests = [r for r in rows if r.verdict in TESTS]
    names = [tuple(c.get("name") for c in _cells(r)) for r in tests]
    if len(tests) < 2 or len(names[0]) < 2 or len(set(names)) != 1:
        return ""
    n, bits = len(tests), []
    for i, name in enumerate(names[0]):
        outcomes = [_cells(r)[i].get("outcome") for r in tests]
        held, other, undecided = (outcomes.count(o) for o in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE))
        bits.append(f"{name} holds in {held} of {n}" + (f", the other way in {other}" if other else "")
                    + (f", undecided in {undecided}" if undecided else ""))
    skipped = sum(r.verdict == NOT_A_TEST for r in rows)
    return (f"over the {n} rows that are tests: " + "; ".join(bits)
            + (f"; {skipped} more not a test (premise not met)" if skipped else "") + ". Rows: ")


def answer_lines(verdicts: list[Verdict], per_claim: int = 4) -> list[str]:
    """One line per claim (C1–C11 first, then any other id), generated from the rows: the claim in words, its
    verdict (:func:`claim_verdict`) and up to ``per_claim`` rows (label: verdict value [interval]), or a skipped
    claim's reason."""
    ids = list(dict.fromkeys([c for c in CLAIM_NAMES if any(v.claim_id == c for v in verdicts)]
                             + [v.claim_id for v in verdicts]))
    out = []
    for cid in ids:
        rows = [v for v in verdicts if v.claim_id == cid]
        word = claim_verdict(rows)
        name = CLAIM_NAMES.get(cid, rows[0].claim)
        if word == SKIPPED:
            why = rows[0].conditions.split(";")[0]
            detail = why if len(why) <= 160 else why[:157] + "…"
        else:
            shown = [r for r in rows if r.verdict != SKIPPED]
            detail = parts_summary(rows) + "; ".join(_short(r) for r in shown[:per_claim]) + (
                f"; … {len(shown) - per_claim} more rows below" if len(shown) > per_claim else "")
        out.append(f"- **{cid}** {name}: **{word}** — {detail}".replace("\n", " "))
    return out


def _link(path: str, base) -> str:
    if base is None or not Path(path).is_absolute():
        return Path(path).as_posix()
    try:
        return Path(os.path.relpath(path, Path(base).absolute())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


def relative_figures(verdicts: list[Verdict], out_dir: str | os.PathLike) -> list[Verdict]:
    """Copies of ``verdicts`` whose figure paths are relative to ``out_dir`` (POSIX), for the result files.

    A check names its figures as it saved them: absolute, or relative to the working folder of the run (e.g.
    ``results/figures/c06.png`` for ``--out results``); stored relative to the results folder they stay right
    when the folder is moved or read from another working folder."""
    base = Path(out_dir).absolute()
    fixed = []
    for v in verdicts:
        figs = []
        for f in v.figures:
            try:
                figs.append(Path(os.path.relpath(Path(f).absolute(), base)).as_posix())
            except ValueError:  # another drive (Windows)
                figs.append(str(f))
        fixed.append(dataclasses.replace(v, figures=figs))
    return fixed


def write_verdicts(verdicts: list[Verdict], out_dir: str | os.PathLike, meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``verdicts.json`` and ``verdicts.md`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    j = atomic_write_json(out_dir / "verdicts.json",
                          {"meta": meta or {}, "verdicts": [v.to_dict() for v in verdicts]})
    m = atomic_write_text(out_dir / "verdicts.md", verdicts_markdown(verdicts, base=out_dir))
    return j, m
