"""The theory notebook runs top to bottom with MONOTHEORY_QUICK=1."""


def test_theory_notebook_executes(run_notebook):
    nb = run_notebook("01_theory.ipynb", timeout=240)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(o.output_type == "display_data" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
