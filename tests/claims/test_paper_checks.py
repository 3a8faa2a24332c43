"""C6–C8 run end to end in quick mode: rows, labels, figures, and the exact results they must carry."""

import json
from pathlib import Path

import pytest

from monotheory.claims.runner import CheckContext, load_check
from monotheory.claims.verdict import NOT_REPRODUCED, PARTLY, REPRODUCED

CHECKS = Path(__file__).resolve().parents[2] / "paper_checks"


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("checks")
    ctx = CheckContext(out_dir=out, quick=True, seed=0)
    res = {}
    for name in ("c06_poly_separable_clean", "c07_label_noise_crossover", "c08_input_noise"):
        res[name] = {v.label: v for v in load_check(CHECKS / f"{name}.py").run(ctx)}
    return out, res


def test_c06_poly_ahead_on_clean_data(rows):
    _, res = rows
    c6 = res["c06_poly_separable_clean"]
    assert set(c6) == {"fisher", "unnormalized", "threshold_error"}
    assert c6["fisher"].value == pytest.approx(4 * 1.4**2 / 1.84 / (1.4**2 / 1.72))  # J ratio at S = 0.2
    assert all(v.verdict == REPRODUCED for v in c6.values())
    # exact values: no interval; the Monte Carlo estimate is tested against the exact value (z, Holm at 0.1 %)
    assert c6["fisher"].interval is None and "agrees with the exact value" in c6["fisher"].measured
    mc = c6["fisher"].details["monte_carlo"][0]
    assert mc["outcome"] == "inconclusive" and mc["interval"][0] < 0 < mc["interval"][1] and mc["level"] > 0.999
    assert [c["name"] for c in c6["fisher"].details["decision"]["cells"]] == [
        "poly ahead at S = 0.2", "poly ahead at every S of 21 in [0, 1) (smallest margin)"]


def test_c07_one_row_per_criterion_and_noise_model(rows):
    _, res = rows
    c7 = res["c07_label_noise_crossover"]
    assert len(c7) == 9 and "fisher/flip" in c7 and "threshold_error/one_sided" in c7
    assert c7["unnormalized/flip"].value == pytest.approx(2 / 7) and c7["unnormalized/flip"].verdict == REPRODUCED
    assert c7["fisher/flip"].value is None and c7["fisher/flip"].verdict == NOT_REPRODUCED
    # a crossover far from 0.25 is one part of two: partly, shown by the part that holds; the reason names the
    # location part that does not
    assert c7["unnormalized/uniform"].value == pytest.approx(4 / 7) and c7["unnormalized/uniform"].verdict == PARTLY
    decision = c7["unnormalized/uniform"].details["decision"]
    assert decision["decided_by"].startswith("mono overtakes poly")
    assert "not for η* within ±0.05 of 0.25" in decision["reason"]
    assert all("criterion" in v.conditions and "unknown" in v.conditions for v in c7.values())
    assert all("MC agrees" in v.measured for v in c7.values())  # MC never contradicts the exact order
    assert all(v.figures and (v.figures[0].endswith("c07_separability_vs_eta.png")) for v in c7.values())


def test_c08_rows_and_figures(rows):
    out, res = rows
    c8 = res["c08_input_noise"]
    assert set(c8) == {"variance", "reversal/fisher", "reversal/unnormalized", "reversal/threshold_error",
                       "reversal vs weights"}
    scan = c8["reversal vs weights"].details["scan"]
    assert not any(d["reversal"] for d in scan["fisher"])  # Fisher is scale-invariant: no reversal
    hits = {d["w1"] for d in scan["unnormalized"] if d["reversal"] is not None}
    assert hits == {1.25, 1.5, 1.75} and "CONDITION" in c8["reversal vs weights"].conditions
    assert c8["variance"].verdict == REPRODUCED and c8["variance"].value == pytest.approx(2, rel=0.2)
    assert c8["reversal/fisher"].value is None and c8["reversal/fisher"].verdict == NOT_REPRODUCED
    assert c8["reversal/fisher"].details["poly/mono_at_lambda_max"] == pytest.approx(2, rel=0.01)  # → 2 as λ → ∞
    assert c8["reversal vs weights"].verdict == PARTLY                        # unnormalized yes, fisher no
    assert [c["outcome"] for c in c8["variance"].details["monte_carlo"]] == ["inconclusive"] * 4
    for name in ("c06_separability_vs_sparsity", "c07_separability_vs_eta", "c08_separability_vs_lambda"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert json.loads((out / "figures" / f"{name}.json").read_text())
