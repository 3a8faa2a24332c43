"""``monotheory lora-digits``: bad input exits 2 before any work; the experiment itself is a slow test."""

from __future__ import annotations

import json

import pytest

from monotheory.cli import main as cli_main


@pytest.mark.parametrize("args, msg", [
    (["--rank", "0"], "rank = 0"),
    (["--relu", "sigmoid"], "relu = 'sigmoid' is unknown"),
    (["--methods", "full,prefix"], "method = 'prefix' is unknown"),
    (["--noise-rates", "0,1.5"], "noise rate = 1.5"),
    (["--seeds", "1,1"], "lists 1 twice"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, msg):
    out = tmp_path / "out"
    try:
        rc = cli_main(["lora-digits", "--out", str(out), *args])
    except SystemExit as e:  # a usage error (argparse: a list option's repeated value)
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_digits_analogue_small(tmp_path):
    """2 seeds × η ∈ {0, 0.8} × 3 methods, 6 epochs (the adapters need them at lr 0.01): the pipeline runs end to end and its measures are sane."""
    out = tmp_path / "run"
    rc = cli_main(["lora-digits", "--out", str(out), "--pretrain-epochs", "2", "--epochs", "6", "--seeds", "0,1",
                   "--noise-rates", "0,0.8", "--quiet"])
    assert rc == 0
    res = json.loads((out / "lora_digits.json").read_text())
    assert (out / "lora_digits_accuracy.png").exists() and (out / "lora_digits_accuracy.json").exists()
    assert len(res["runs"]) == 2 * 2 * 3
    clean = res["summary"]["0"]["methods"]
    for m in ("full", "lora", "monolora"):
        assert clean[m]["val_acc"]["mean"] > 2 * res["chance"], (m, clean[m]["val_acc"])  # chance 10 %
    # exact zeros: the ReLU'd MonoLoRA code has many, the plain LoRA code none
    assert clean["monolora"]["code"]["zero_fraction"] > 0.1
    assert clean["lora"]["code"]["zero_fraction"] == 0.0
    gap = res["summary"]["0.8"]["gaps"]["monolora-lora:val_acc"]
    assert gap["n"] == 2 and "p_holm" in gap
    by = {(r["method"], r["noise_rate"], r["seed"]): r for r in res["runs"]}
    assert by[("full", 0.8, 0)]["trainable_params"] > by[("lora", 0.8, 0)]["trainable_params"]


def test_summary_pairs_runs_by_seed():
    """summarise: per-method means, paired gaps over seeds (a − b of matched seeds), Holm over all gaps."""
    from monotheory.lora.digits import LoRADigitsConfig, summarise, table_markdown

    cfg = LoRADigitsConfig(noise_rates=(0.0, 0.5), seeds=(0, 1, 2))
    acc = {"full": [0.6, 0.7, 0.8], "lora": [0.5, 0.6, 0.9], "monolora": [0.55, 0.62, 0.95]}
    runs = []
    for rate in cfg.noise_rates:
        for m, vals in acc.items():
            for s, v in zip(cfg.seeds, vals, strict=True):
                row = {"method": m, "noise_rate": rate, "seed": s, "train_acc": v - rate / 2,
                       "train_acc_clean": v, "val_acc": v}
                if m != "full":
                    row["code"] = {"zero_fraction": 0.5 if m == "monolora" else 0.0, "sparsity": 0.1,
                                   "monosemanticity": 0.2}
                    row["output"] = {"zero_fraction": 0.0, "sparsity": 0.1}
                runs.append(row)
    summ = summarise(runs, cfg)
    gap = summ["0.5"]["gaps"]["monolora-lora:val_acc"]
    assert gap["n"] == 3 and abs(gap["mean"] - (0.05 + 0.02 + 0.05) / 3) < 1e-12
    assert gap["ci"][0] < gap["mean"] < gap["ci"][1] and gap["p_holm"] >= gap["p_value"]
    assert abs(summ["0"]["methods"]["full"]["val_acc"]["mean"] - 0.7) < 1e-12
    assert summ["0"]["methods"]["monolora"]["code"]["zero_fraction"] == 0.5
    table = table_markdown(summ, cfg)
    assert "| 0.5 | monolora-lora:val_acc | +4.0 |" in table
    # gaps 5, 2, 5 pt: t(2) interval [-0.3, +8.3] pt contains 0, so the table must not call it a difference
    row = next(line for line in table.splitlines() if line.startswith("| 0.5 | monolora-lora:val_acc"))
    assert gap["ci"][0] < 0 < gap["ci"][1] and row.endswith("| inconclusive (CI contains 0) |"), row
    assert "| 0 | monolora | " in table and table.splitlines()[0].count("zeros") == 2  # code and output zeros


def test_diverged_runs_are_a_warning_naming_them():
    from monotheory.lora.digits import diverged_runs

    runs = [{"method": "lora", "noise_rate": 0.5, "seed": 1, "diverged": True},
            {"method": "full", "noise_rate": 0.0, "seed": 0, "diverged": False}]
    assert diverged_runs(runs) == ["1 of 2 runs diverged (loss NaN or infinite): lora η=0.5 seed 1"]
    assert diverged_runs(runs[1:]) == []
