"""`benchmarks/gpu_check.sh --device cpu` end to end (slow): every step passes and one JSON file, rewritten after
every step, holds the loader rates, the step-only and end-to-end rates, each stage's seconds and the estimate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = {"pretrain", "sae", "probe", "finetune", "shift"}


@pytest.mark.slow
def test_gpu_check_runs_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "gc"), "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads((tmp_path / "gc" / "gpu_check.json").read_text())
    assert r["ok"] and set(r["steps"]) == {"data", "loaders", "rates", "slice", "slice_torchrun"}
    assert r["loader_pil_images_per_s"] > 0 and r["loader_gpu_images_per_s"] > 0
    assert r["step_images_per_s"] > 0 and r["end_to_end_images_per_s"] > 0
    assert r["end_to_end_ratio"] == pytest.approx(r["end_to_end_images_per_s"] / r["step_images_per_s"])
    for k in ("slice", "slice_torchrun"):
        assert r["steps"][k]["outputs"]["ok"], r["steps"][k]["outputs"]
        assert set(r[f"{k}_stage_seconds"]) == STAGES and all(v > 0 for v in r[f"{k}_stage_seconds"].values())
    assert r["estimate_paper_preset_hours"] == pytest.approx(sum(r["estimate_paper_preset_stage_hours"].values()))
    assert "estimate_note" in r  # a CPU check says its estimate is no forecast for the paper's network


def test_gpu_check_without_an_out_dir_is_one_line_exit_2():
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_no_step_starts_past_the_deadline_and_the_json_says_so(tmp_path):
    """With no time left every step is marked skipped (never started), and the file is still written: what a
    check that runs out of its window leaves for the steps it did not reach."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), str(tmp_path / "gc"),
                           "--device", "cpu", "--budget", "0"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    r = json.loads((tmp_path / "gc" / "gpu_check.json").read_text())
    assert proc.returncode == 1 and not r["ok"]
    assert list(r["steps"]) == ["data", "loaders", "rates", "slice", "slice_torchrun"]
    assert all(s["rc"] is None and "out of time" in s["skipped"] for s in r["steps"].values())
