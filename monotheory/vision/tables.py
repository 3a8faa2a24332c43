"""The Figure-1 tables of a ``run-imagenet`` output folder (rows, Markdown) and the result-file I/O.

Figure 1 of the paper (ImageNet-100, linear-probe top-1 %): rows *clean*, *90 % label noise*, *Gaussian
input noise σ = 0.6*; columns CL (poly), SAE (mono), NCL (mono) (:data:`monotheory.vision.config.REGIME`).
The summary takes the paper's cells (:data:`PAPER_CELLS`) when the run's grids hold them, else the grid's
extremes (labelled with their values, without the paper's numbers beside them). Also the ``.npz`` I/O of
per-sample correctness (``probe_correct.npz``). Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from monotheory.files import atomic_write_bytes
from monotheory.vision.config import REGIME

COLUMNS = tuple((m, f"{m.upper()} ({REGIME[m]})") for m in ("cl", "sae", "ncl"))  # CL (poly), SAE (mono), NCL (mono)
PAPER_FIGURE1 = {"clean": {"cl": 66.8, "sae": 66.2, "ncl": 66.7},
                 "label_noise": {"cl": 34.4, "sae": 45.9, "ncl": 48.1},
                 "input_noise": {"cl": 28.7, "sae": 30.6, "ncl": 33.3}}


# (training label-noise rate, test σ) of each Figure-1 row in the paper
PAPER_CELLS = {"clean": (0.0, 0.0), "label_noise": (0.9, 0.0), "input_noise": (0.0, 0.6)}


def load_json(out: str | Path, name: str) -> dict | None:
    p = Path(out) / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _acc(probe: dict, method: str, rate: float, sigma_key: str) -> float | None:
    for r in probe["methods"].get(method, {}).get("rows", []):
        if abs(r["noise_rate"] - rate) < 1e-12:
            return r["test_acc"].get(sigma_key)
    return None


def grid(probe: dict) -> tuple[list[float], list[str]]:
    """The noise rates and σ keys present in ``probe.json`` (ascending)."""
    first = next(iter(probe["methods"].values()))
    rates = sorted(r["noise_rate"] for r in first["rows"])
    sigmas = sorted(first["rows"][0]["test_acc"], key=float)
    return rates, sigmas


def has_cell(probe: dict, rate: float, sigma: float) -> bool:
    """Whether every method of ``probe.json`` has a result at training noise ``rate`` and test σ ``sigma``."""
    return all(_acc(probe, m, rate, f"{float(sigma):g}") is not None for m in probe["methods"])


def cell_label(row: str, rate: float, sigma: float) -> str:
    return {"clean": "clean", "label_noise": f"label noise {rate:.0%}"}.get(row, f"input noise σ={sigma:g}")


def figure1_rows(probe: dict) -> list[dict]:
    """Three rows (``clean``, ``label_noise``, ``input_noise``) of top-1 accuracy (fraction) per method.

    Each row is the paper's cell when present (``paper_cell: True``), else the grid's extreme.
    """
    rates, sigmas = grid(probe)
    fallback = {"clean": (rates[0], float(sigmas[0])), "label_noise": (rates[-1], float(sigmas[0])),
                "input_noise": (rates[0], float(sigmas[-1]))}
    rows = []
    for key, paper in PAPER_CELLS.items():
        ok = has_cell(probe, *paper)
        rate, s = paper if ok else fallback[key]
        rows.append({"row": key, "label": cell_label(key, rate, s), "noise_rate": rate, "sigma": s,
                     "paper_cell": ok,
                     "acc": {m: _acc(probe, m, rate, f"{s:g}") for m, _ in COLUMNS if m in probe["methods"]}})
    return rows


def figure1_markdown(rows: list[dict], paper: bool = False) -> str:
    cols = [(m, name) for m, name in COLUMNS if any(m in r["acc"] for r in rows)]
    head = "| | " + " | ".join(n for _, n in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        cells = []
        for m, _ in cols:
            a = r["acc"].get(m)
            cell = "—" if a is None else f"{100 * a:.1f}"
            if paper and r.get("paper_cell", True):  # never beside another cell than the paper's
                cell += f" (paper {PAPER_FIGURE1[r['row']][m]})"
            cells.append(cell)
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_correct(path: str | Path, correct: dict[str, dict]) -> None:
    """Save per-sample correctness as ``.npz`` with keys ``<method>|<rate>|<σ>`` (atomically)."""
    import io

    buf = io.BytesIO()
    flat = {f"{m}|{r:g}|{s}": v for m, d in correct.items() for (r, s), v in d.items()}
    np.savez_compressed(buf, **flat)
    atomic_write_bytes(path, buf.getvalue())


def load_correct(path: str | Path) -> dict[tuple[str, float, str], np.ndarray]:
    """Inverse of :func:`save_correct`: ``{(method, rate, σ-key): 0/1 array}``."""
    with np.load(path) as z:
        return {(k.split("|")[0], float(k.split("|")[1]), k.split("|")[2]): z[k] for k in z.files}
