def test_toy_notebook_runs(run_notebook):
    nb = run_notebook("02_toy_model.ipynb", timeout=300)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "clean:" in text and "monosemantic:" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 3  # WᵀW panels, the accuracy bars and the phase map (drawn by monotheory.toy.plots)
