"""`monotheory toy`: JSON output and one-line errors."""

import json
import subprocess
import sys

import pytest

SMALL = ["--n", "10", "--m", "5", "--n-seeds", "2", "--steps", "30", "--batch-size", "64", "--probe-train", "256",
         "--probe-test", "256", "--probe-max-iter", "20"]


def test_toy_json_structure(cli, tmp_path):
    rc, out, err = cli("toy", *SMALL, "--out", str(tmp_path), "--json", "--quiet")
    assert rc == 0, err
    assert "it/s" not in err  # --quiet: no progress bar
    res = json.loads(out)
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 2 and all(p.with_suffix(".json").is_file() for p in pngs)  # every figure has its data
    assert res["config"]["_type"] == "ToyConfig" and res["config"]["n"] == 10
    assert set(res["summary"]) == {"poly", "mono-topk", "oracle", "oracle-rot", "oracle-topk"}
    for regime, row in res["summary"].items():
        for cond in ("clean", "label_noise", "input_noise"):
            assert len(row[cond]["ci"]) == 2 and 0 <= row[cond]["mean"] <= 1
            if regime != "poly":
                gap = row[cond]["gap_vs_poly"]
                # a degenerate gap (zero spread over seeds) has no p-value (JSON null), never p = 0
                assert (0 <= gap["p_value"] <= 1) if gap["degenerate"] is None else gap["p_value"] is None
        code = row["code"]
        assert {"represented", "interference", "dimensions_per_feature"} <= set(code)
        assert ("features_per_unit" in code) == (code["basis"] == "per-unit")
        assert isinstance(row["monosemantic"], bool) and len(code["monosemantic_per_seed"]) == 2
    assert res["summary"]["oracle"]["monosemantic"] is True and res["summary"]["oracle-rot"]["monosemantic"] is True
    assert res["summary"]["oracle-rot"]["clean"]["mean"] == pytest.approx(res["summary"]["oracle"]["clean"]["mean"],
                                                                          abs=0.01)
    assert 0 < res["chance"] < 1 and "features_per_unit" in res["monosemantic_rule"]
    assert res["sigma_sd"] == pytest.approx(0.6) and res["config"]["sigma"] is None
    for f in ("results.json", "fig5a_wtw.png", "fig5a_wtw.json", "fig5b_accuracy.png", "fig5b_accuracy.json"):
        assert (tmp_path / f).is_file()


def test_toy_table_names_the_monosemantic_codes(cli, tmp_path):
    rc, out, err = cli("toy", *SMALL, "--out", str(tmp_path))
    assert rc == 0, err
    assert "interference" in out and "chance (majority-class rate of the test labels)" in out
    oracle = next(line for line in out.splitlines() if line.startswith("oracle "))
    assert "yes (2/2)" in oracle


def test_toy_sweep_writes_map(cli, tmp_path):
    rc, out, err = cli("toy", "sweep", *SMALL, "--noise-rates", "0,0.9", "--sigmas", "0,0.5",
                       "--sparsities", "0.5,0.9", "--out", str(tmp_path))
    assert rc == 0, err
    assert "mono (oracle) − poly" in out
    assert (tmp_path / "phase_map.png").is_file() and (tmp_path / "sweeps.png").is_file()
    data = json.loads((tmp_path / "sweep_results.json").read_text())
    assert data["phase_map"]["levels"] == [0.0, 0.9] and data["sweep_config"]["_type"] == "SweepConfig"


def test_toy_search_writes_grid_selection_and_figures(cli, tmp_path):
    rc, out, err = cli("toy", "search", *SMALL, "--search-sparsities", "0.5,0.8", "--search-importances", "uniform",
                       "--search-sigma-sds", "1", "--search-noise-rates", "0.5", "--search-probe-sizes", "64,128",
                       "--search-regimes", "poly,oracle,mono-topk", "--out", str(tmp_path))
    assert rc == 0, err
    res = json.loads((tmp_path / "search.json").read_text())
    assert res["grid"]["sparsities"] == [0.5, 0.8] and res["search_seeds"] == [0, 1] and "score_rule" in res
    assert (tmp_path / "phase_input_oracle_uniform.png").is_file()
    assert (tmp_path / "probe_size_S0.8_uniform.json").is_file()


@pytest.mark.parametrize("args, text", [
    (["--m", "50"], "m = 50"),
    (["--sparsity", "1"], "sparsity = 1.0 is outside [0, 1)"),
    (["--sparsity", "-0.1"], "sparsity"),
    (["--noise-rate", "1.2"], "noise_rate = 1.2 is outside [0, 1]"),
    (["--regimes", "poly,mono"], "regime = 'mono' is unknown"),
    (["--n-seeds", "0"], "n_seeds = 0 must be ≥ 1"),
    (["--sparsities", "0.5"], "only applies to `monotheory toy sweep`"),
    (["sweep", "--map-noise", "both"], "map_noise"),
    (["--steps", "many"], "invalid int value"),
    (["--topk", "21"], "topk = 21 is outside [1, m = 20]"),
    (["--sigma", "0.2", "--sigma-sd", "1"], "are both given"),
    (["--sigma-sd", "-1"], "sigma_sd = -1"),
    (["--probe-train", "10"], "probe_train = 10 is below the 41 classes"),
    (["search", "--search-sparsities", ""], "is an empty list"),
    (["search", "--search-regimes", "poly,mono"], "search regime = 'mono' is unknown"),
    (["search", "--search-probe-sizes", "16"], "probe_sizes entry = 16 is below the 41 classes"),
    (["--search-sparsities", "0.5"], "only applies to `monotheory toy search`"),
    (["--task", "pair", "--noise-rate", "0.5"], "noise_rate = 0.5 is outside [0, 0.5) for flip label noise"),
    (["sweep", "--task", "pair", "--noise-rates", "0,0.3,0.9"],
     "noise_rates entry = 0.9 is outside [0, 0.5) for flip label noise with 2 classes"),
    # issue 23: sweep does not use --noise-rate; a default that is the problem is named as such
    (["sweep", "--noise-rate", "0.3"], "--noise-rate 0.3 does not apply to `monotheory toy sweep`"),
    (["sweep", "--task", "pair"], "(the default of --noise-rates, 0,0.3,0.5,0.7,0.8,0.9; give --noise-rates"),
    (["--task", "pair"], "(the default of --noise-rate, 0.9; give --noise-rate yourself)"),
])
def test_bad_input_is_one_line_exit_2(cli, args, text):
    rc, out, err = cli("toy", *args)
    assert rc == 2
    assert text in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_cli_module_does_not_import_torch():
    code = ("import sys, argparse, monotheory.cli.toy as c; c.add_arguments(argparse.ArgumentParser()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_toy_controls_writes_rows_tables_and_the_k_sweep(cli, tmp_path):
    rc, out, err = cli("toy", "controls", *SMALL, "--seed", "100", "--controls-ks", "1,2", "--controls-sparsities",
                       "0.8", "--out", str(tmp_path), "--quiet")
    assert rc == 0, err
    assert "seeds 100–101" in out and "capacity-matched" in out and "oracle-topk (k = 2)" in out
    doc = json.loads((tmp_path / "controls.json").read_text())
    assert doc["controls"]["_type"] == "ControlsConfig" and doc["seeds"] == "seeds 100–101"
    # per task (2) × labels (2) × mono regime (mono-topk and oracle-topk at k = 1, 2, the oracle)
    assert len(doc["rows"]) == 2 * 2 * 5
    assert {r["task"] for r in doc["rows"]} == {"argmax", "pair"}
    assert all(len(r["decision"]["cells"]) == 3 for r in doc["rows"])
    assert {r["verdict"] for r in doc["rows"]} <= {"reproduced", "partly reproduced", "not reproduced", "inconclusive",
                                                   "not a test"}
    contrasts = {r["contrast"] for t in doc["mechanism"] for r in t["rows"]}
    assert contrasts == {"monosemanticity", "sparsity", "basis", "trained code"}
    md = (tmp_path / "controls.md").read_text()
    assert "Differences-in-differences" in md and "fires with own feature" in md
    assert (tmp_path / "k_sweep.png").is_file() and (tmp_path / "k_sweep.json").is_file()


def test_the_old_sigma_unit_option_is_a_hidden_alias_that_warns(capsys):
    """`--sigma-unit sd --sigmas A,B` still means `--sigma-sds A,B` for one release: one warning line on stderr,
    the same SweepConfig, and the option is not in --help."""
    from monotheory.cli import build_parser
    from monotheory.config import from_namespace
    from monotheory.toy import SweepConfig

    p = build_parser("toy")
    capsys.readouterr()
    with pytest.warns(DeprecationWarning):
        old = from_namespace(SweepConfig, p.parse_args(["toy", "sweep", "--sigma-unit", "sd", "--sigmas", "0,1"]))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sigma-unit is deprecated" in err and "--sigma-sds" in err
    assert old == from_namespace(SweepConfig, p.parse_args(["toy", "sweep", "--sigma-sds", "0,1"]))
    assert "--sigma-unit" not in p._subparsers._group_actions[0].choices["toy"].format_help()
