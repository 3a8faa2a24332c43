"""`monotheory theory`: JSON output vs the closed forms, the table, and one-line errors (exit 2)."""

import json

import pytest
import sympy as sp

from monotheory.testing import z_value
from monotheory.theory import symbolic_moments
from monotheory.theory.symbolic import S

QUANTITIES = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1", "separability")


def test_json_exact_equals_closed_forms_and_mc_within_z_se(cli):
    rc, out, err = cli("theory", "--sparsity", "0.3", "--samples", "2000000", "--seed", "1", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["config"]["sparsity"] == 0.3 and res["config"]["seed"] == 1 and res["criterion"] == "fisher"
    z = z_value(2 * len(QUANTITIES))
    for f in ("mono", "poly"):
        closed = {k: float(v.subs(S, sp.Rational(3, 10))) for k, v in symbolic_moments(f).items()}
        for k in QUANTITIES:
            row = res[f][k]
            if k != "separability":
                assert row["exact"] == pytest.approx(closed[k], rel=1e-12)
            assert abs(row["mc"] - row["exact"]) <= z * row["se"], (f, k, row)
    assert res["crossover"] is None and res["crossover_detail"]["method"] == "none"
    assert res["input_noise_reversal"] is None


def test_json_crossover_for_unnormalized(cli):
    rc, out, _ = cli("theory", "--sparsity", "0.2", "--criterion", "unnormalized", "--samples", "0", "--json")
    res = json.loads(out)
    assert rc == 0 and res["crossover"] == pytest.approx(2 / 7)
    assert res["crossover_detail"]["expression"] == "2/7" and res["mono"]["mu0"]["mc"] is None


def test_table_output(cli):
    rc, out, _ = cli("theory", "--sparsity", "0.2", "--criterion", "threshold_error", "--noise-rate", "0.3",
                     "--noise-model", "one_sided", "--samples", "50000", "--weights", "2,1", "--quiet")
    assert rc == 0
    assert "threshold_error" in out and "mono exact" in out and "label-noise crossover" in out


@pytest.mark.parametrize("args, needle", [
    (["--sparsity", "1"], "sparsity = 1.0 is outside [0, 1)"),
    (["--sparsity", "-0.1"], "sparsity"),
    (["--sparsity", "0.2", "--noise-rate", "1.5"], "noise_rate = 1.5 is outside [0, 1]"),
    (["--sparsity", "0.2", "--sigma", "-1"], "sigma = -1.0 is negative"),
    (["--sparsity", "0.2", "--samples", "-5"], "samples = -5"),
    (["--sparsity", "0.2", "--criterion", "margin"], "criterion = 'margin' is unknown"),
    (["--sparsity", "0.2", "--noise-model", "sideways"], "noise_model = 'sideways' is unknown"),
    (["--sparsity", "0.2", "--tie-rule", "coin"], "tie_rule = 'coin' is unknown"),
    (["--sparsity", "0.2", "--weights", "1,0"], "weights"),
    ([], "the following arguments are required: --sparsity"),
])
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    rc, out, err = cli("theory", *args)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


@pytest.mark.parametrize("args,needle", [
    (["--noise-rate", "0.5"], "noise_rate = 0.5 is outside [0, 0.5) for flip"),
    (["--noise-rate", "1"], "noise_rate = 1 is outside [0, 0.5) for flip"),
    (["--noise-rate", "1", "--noise-model", "uniform"], "noise_rate = 1 is outside [0, 1) for uniform"),
    (["--noise-rate", "1", "--noise-model", "one_sided"], "noise_rate = 1 is outside [0, 1) for one_sided"),
])
def test_rates_the_labels_cannot_carry_are_refused(cli, args, needle):
    # the shared label-noise rule (monotheory.noise.check_label_noise_rate) with the two classes of y
    rc, out, err = cli("theory", "--sparsity", "0.2", "--samples", "0", *args)
    assert rc == 2 and out == "" and err.count("\n") == 1 and needle in err, err


def test_flip_rate_just_below_one_half_is_accepted(cli):
    rc, out, _ = cli("theory", "--sparsity", "0.2", "--noise-rate", "0.49", "--samples", "0", "--json")
    assert rc == 0 and json.loads(out)["mono"]["delta_mu"]["exact"] > 0


def test_irrational_looking_floats_are_not_a_traceback(cli):
    rc, out, err = cli("theory", "--sparsity", "0.7071067811865476", "--samples", "0", "--json")
    assert rc == 0 and "Traceback" not in err and json.loads(out)["mono"]["mu0"]["exact"] > 0
    rc, out, _ = cli("theory", "--sparsity", "0.2", "--weights", "1.4142135623730951,1", "--samples", "0",
                     "--criterion", "unnormalized", "--json")
    assert rc == 0 and json.loads(out)["input_noise_reversal"] is not None


def test_more_than_two_features_reports_no_exact_crossover(cli):
    rc, out, _ = cli("theory", "--sparsity", "0.3", "--n-features", "3", "--samples", "20000", "--json")
    res = json.loads(out)
    assert rc == 0 and res["crossover"] is None and res["mono"]["mu0"]["exact"] is None
    assert res["mono"]["mu0"]["mc"] is not None


def test_out_writes_results_config_and_figure_with_its_data(cli, tmp_path):
    """--out DIR: results.json equals what --json prints, config.json is the config, the figure has its data
    file beside it and the curves there are the exact criterion (crossover marked where the curves cross)."""
    from monotheory.theory import separability

    out = tmp_path / "th"
    args = ("theory", "--sparsity", "0.2", "--criterion", "unnormalized", "--samples", "0")
    rc, printed, err = cli(*args, "--out", str(out), "--json")
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res == json.loads(printed) and res["crossover"] == pytest.approx(2 / 7)
    assert json.loads((out / "config.json").read_text()) == res["config"]
    assert (out / "theory_curves.png").stat().st_size > 0
    data = json.loads((out / "theory_curves.json").read_text())
    lab = data["label_noise"]
    assert lab["mark"] == pytest.approx(2 / 7) and len(lab["x"]) == len(lab["mono"]) == len(lab["poly"])
    assert lab["mono"][3] == pytest.approx(separability("unnormalized", "mono", 0.2, lab["x"][3]))
    assert data["input_noise"]["x"][0] == 0 and data["input_noise"]["mono"][0] == pytest.approx(lab["mono"][0])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # atomic writes leave no temporaries
    rc, printed, _ = cli(*args, "--out", str(out))
    assert rc == 0 and f"wrote {out / 'results.json'}" in printed


def test_out_that_is_a_file_is_refused_before_any_work(cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, out, err = cli("theory", "--sparsity", "0.2", "--out", str(f))
    assert rc == 2 and out == "" and "is an existing file" in err and err.count("\n") == 1


def test_sparsity_shows_as_required_in_the_usage_line(cli):
    rc, out, _ = cli("theory", "--help")
    assert rc == 0 and "--sparsity S [" in " ".join(out.split()) and "required arguments:" in out
