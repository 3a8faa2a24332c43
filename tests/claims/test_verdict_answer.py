"""verdicts.md opens with the answer: one line per claim, generated from the rows, then every row."""

from __future__ import annotations

from monotheory.claims.verdict import (
    ERROR,
    INCONCLUSIVE,
    NOT_A_TEST,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    SKIPPED,
    Verdict,
    answer_lines,
    claim_verdict,
    parts_summary,
    verdicts_markdown,
)


def v(cid, verdict, label="", value=None, interval=None, conditions=""):
    return Verdict(cid, f"claim {cid}", verdict, label=label, value=value, interval=interval, conditions=conditions)


def test_claim_verdict_from_its_rows():
    assert claim_verdict([v("C1", REPRODUCED), v("C1", REPRODUCED)]) == REPRODUCED
    assert claim_verdict([v("C5", PARTLY), v("C5", NOT_A_TEST)]) == PARTLY
    assert claim_verdict([v("C2", REPRODUCED), v("C2", INCONCLUSIVE)]) == PARTLY
    assert claim_verdict([v("C2", NOT_REPRODUCED), v("C2", INCONCLUSIVE)]) == NOT_REPRODUCED
    assert claim_verdict([v("C3", INCONCLUSIVE), v("C3", NOT_A_TEST)]) == INCONCLUSIVE
    assert claim_verdict([v("C3", NOT_A_TEST), v("C3", SKIPPED)]) == NOT_A_TEST
    assert claim_verdict([v("C6", ERROR), v("C6", SKIPPED)]) == ERROR
    assert claim_verdict([v("C11", SKIPPED)]) == SKIPPED


def test_verdicts_md_opens_with_one_line_per_claim_in_paper_order():
    rows = [v("C10", INCONCLUSIVE, "10% of train", 3.4, (-7.1, 13.9)),
            v("C2", REPRODUCED, "NCL−CL", 13.1, (9.0, 17.2)), v("C2", INCONCLUSIVE, "SAE−CL", 1.0, (-2.0, 4.0)),
            v("C11", SKIPPED, conditions="needs Llama-2 weights; and more"),
            *[v("C5", PARTLY, f"row {i}", 0.1, (0.05, 0.15)) for i in range(6)]]
    lines = answer_lines(rows)
    assert [ln.split("**")[1] for ln in lines] == ["C2", "C5", "C10", "C11"]
    assert "ImageNet-100, 90 % label noise" in lines[0] and "**partly reproduced**" in lines[0]
    assert "NCL−CL: reproduced +13.1 [+9, +17.2]" in lines[0] and "SAE−CL: inconclusive +1 [-2, +4]" in lines[0]
    why = Verdict("C3", "c", INCONCLUSIVE, label="NCL−CL", value=3.297, interval=(-4.087, 10.68),
                  details={"decision": {"reason": "interval contains 0"}})
    assert "NCL−CL: inconclusive +3.3 [-4.09, +10.7] (interval contains 0)" in answer_lines([why])[0]
    assert "2 more rows below" in lines[1]
    assert lines[3].endswith("**skipped** — needs Llama-2 weights")
    md = verdicts_markdown(rows)
    head = md.split("## Every row")[0]
    assert head.index("## The answer") < head.index("**C2**") and "| claim | verdict |" not in head
    assert md.index("## Every row") < md.index("| claim | verdict |")


def test_a_claim_of_several_parts_says_where_each_part_holds():
    """C5-style rows (three parts each): the answer line counts, per part, the test rows where it holds, goes the
    other way or is undecided, and the rows that are not a test."""
    def row(outcomes, verdict=PARTLY):
        cells = [{"name": n, "outcome": o} for n, o in zip(("clean", "label noise", "input noise"), outcomes, strict=True)]
        return Verdict("C5", "c", verdict, label="r", value=0.1, interval=(0.05, 0.15),
                       details={"decision": {"cells": cells}})
    rows = [row((NOT_REPRODUCED, REPRODUCED, REPRODUCED)), row((REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED)),
            row((REPRODUCED, REPRODUCED, REPRODUCED), REPRODUCED), row((REPRODUCED, REPRODUCED, NOT_REPRODUCED), NOT_A_TEST)]
    line = answer_lines(rows)[0]
    assert ("over the 3 rows that are tests: clean holds in 2 of 3, the other way in 1; label noise holds in 2 of 3, "
            "undecided in 1; input noise holds in 2 of 3, the other way in 1; 1 more not a test") in line
    assert parts_summary(rows[:1]) == "" and parts_summary([row((REPRODUCED,) * 3), Verdict("C5", "c", PARTLY)]) == ""
