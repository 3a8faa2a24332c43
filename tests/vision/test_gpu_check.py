"""`benchmarks/gpu_check.sh --device cpu` end to end (slow): every step passes and one JSON file holds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "gc"), "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gc" / "gpu_check.json").read_text())
    assert report["ok"] and set(report["steps"]) == {"bench_vision", "bench_loader", "slice", "slice_torchrun"}
    assert report["steps"]["bench_loader"]["result"]["torchvision_images_per_s"] > 0
    for k in ("slice", "slice_torchrun"):
        assert report["steps"][k]["outputs"]["ok"], report["steps"][k]["outputs"]


def test_gpu_check_without_an_out_dir_is_one_line_exit_2():
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
