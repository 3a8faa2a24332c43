"""notebooks/03_full_scale.ipynb executes on a tiny run-imagenet output folder."""

from __future__ import annotations

from monotheory.cli import main as cli_main


def test_full_scale_notebook_runs(run_notebook, tiny_folder, tmp_path):
    out = tmp_path / "run"
    rc = cli_main(["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--out", str(out),
                   "--preset", "smoke", "--device", "cpu", "--stages", "pretrain,sae,probe,finetune",
                   "--epochs", "1", "--batch-size", "16", "--sae-epochs", "2", "--probe-epochs", "5",
                   "--ft-epochs", "1", "--ft-fractions", "1", "--quiet"])
    assert rc == 0
    nb = run_notebook("03_full_scale.ipynb", timeout=300, MONOTHEORY_RESULTS=str(out))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # Figure 1, noise curves, fine-tuning
