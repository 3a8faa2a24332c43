"""notebooks/04_probe_your_model.ipynb executes with MONOTHEORY_QUICK=1 (digits: pixels, random features, ResNet-18)."""


def test_probe_your_model_notebook_runs(run_notebook):
    nb = run_notebook("04_probe_your_model.ipynb", timeout=600, OMP_NUM_THREADS="1")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "sae-topk:8 − pixels" in text and "s per 1,000 images" in text and "monosemanticity" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
