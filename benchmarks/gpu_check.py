"""The body of ``benchmarks/gpu_check.sh``: one machine check, written to ``OUT/gpu_check.json`` after every step.

Steps, in this order, each in its own process with its own time budget (``BUDGETS``; the whole check stops
starting steps when its deadline ``--budget`` is near, so it fits its window and a kill loses only the step in
flight):

1. ``data``: a generated ImageNet-100-shaped folder (the 100 WordNet ids, 12 train + 2 val JPEGs of 500 × 375
   each on CUDA; 2 + 1 of 64 × 48 on a CPU) — every later step reads these same files;
2. ``loaders``: two-view images/s of the PIL loader, the ``gpu`` loader and (when installed) DALI;
3. ``rates``: the pretraining step alone vs loader + step (``end_to_end_ratio``), one process;
4. ``slice``: ``run-imagenet --preset paper --loader gpu`` cut to seconds per stage, through every stage, with
   each stage's wall time (``timings.json``) and its outputs checked;
5. ``slice_torchrun``: the same under ``torchrun --nproc_per_node=1`` (NCCL on CUDA, gloo on a CPU);
6. ``estimate``: the full paper preset's wall time from the measured end-to-end rate (:mod:`monotheory.vision.eta`).

The top level of the JSON holds the figures (``loader_*_images_per_s``, ``step_images_per_s``,
``end_to_end_*``, ``slice_stage_seconds``, ``slice_torchrun_stage_seconds``, ``estimate_*``), ``steps`` the
details (exit status, seconds, log file, tail of the log on failure). No network is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the repository's package first
    sys.path.insert(0, str(REPO))

from monotheory.files import atomic_write_json  # noqa: E402

# seconds per step (CUDA, CPU); the CUDA total is meant to stay under 5 minutes on one H200 with 16 cores
BUDGETS = {"data": (40, 300), "loaders": (60, 300), "rates": (60, 300), "slice": (75, 900), "slice_torchrun": (75, 900)}


def versions(device: str) -> dict:
    import torch
    import torchvision

    from monotheory.vision.dali_loader import dali_available

    info = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "platform": platform.platform(), "device": device, "cpu_count": os.cpu_count(),
            "cuda_available": torch.cuda.is_available(), "cuda": torch.version.cuda, "dali": None, "kornia": None,
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), gpu_count=torch.cuda.device_count(),
                    gpu_memory_gib=torch.cuda.get_device_properties(0).total_memory / 2 ** 30)
    if dali_available():
        import nvidia.dali

        info["dali"] = nvidia.dali.__version__
    try:
        import kornia

        info["kornia"] = kornia.__version__
    except ImportError:
        pass
    return info


def run_step(name: str, cmd: list[str], env: dict, timeout: float, log_dir: Path) -> dict:
    """Run ``cmd`` for at most ``timeout`` s; keep its exit status (124: out of time), wall time, log file and
    the last line of its output that parses as JSON."""
    t0 = time.perf_counter()
    log = log_dir / f"{name}.log"
    with open(log, "w") as fh:
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    out = log.read_text(errors="replace")
    last = None
    for line in reversed(out.splitlines()):
        try:
            last = json.loads(line)
            break
        except ValueError:
            continue
    seconds = time.perf_counter() - t0
    print(f"[gpu_check] {name}: exit {rc} in {seconds:.1f} s", flush=True)
    return {"rc": rc, "seconds": seconds, "budget_s": timeout, "result": last, "log": str(log),
            "tail": out[-1500:] if rc else ""}


def slice_args(device: str, root: Path, out: Path) -> list[str]:
    """The paper preset cut to seconds per stage (CUDA: ResNet-18 at 224 px, the paper's projector; CPU: a tiny
    network at 32 px), through the ``gpu`` loader."""
    args = ["run-imagenet", "--preset", "paper", "--dataset", "imagenet100", "--data-root", str(root), "--out",
            str(out), "--device", device, "--loader", "gpu", "--quiet", "--shift-severities", "3",
            "--ft-fractions", "0.5,1", "--ft-noise-rates", "0.9", "--ft-epochs", "1", "--ft-few-shot-epochs", "1"]
    if device == "cuda":
        return args + ["--epochs", "2", "--warmup-epochs", "1", "--sae-epochs", "1", "--probe-epochs", "5",
                       "--num-workers", str(min(8, os.cpu_count() or 1))]
    return args + ["--arch", "tiny", "--cifar-stem", "--crop-size", "32", "--eval-resize", "0", "--no-blur",
                   "--proj-hidden", "64", "--proj-out", "32", "--epochs", "1", "--warmup-epochs", "0",
                   "--batch-size", "32", "--sae-n-latents", "32", "--sae-k", "4", "--sae-epochs", "1",
                   "--probe-epochs", "3", "--probe-noise-rates", "0,0.9", "--probe-sigmas", "0,0.6",
                   "--ft-batch-size", "32", "--num-workers", "0", "--threads", "1", "--shift-corruptions",
                   "gaussian_noise"]


def check_outputs(out: Path, world_size: int) -> dict:
    """What a finished slice must hold: every stage's JSON with its world size, finite accuracies in [0, 1], the
    paper quirks in the config, and the stages' wall times."""
    problems = []

    def load(name):
        p = out / f"{name}.json"
        if not p.exists():
            problems.append(f"{name}.json missing")
            return {}
        d = json.loads(p.read_text())
        if d.get("world_size") != world_size:
            problems.append(f"{name}.json world_size {d.get('world_size')} != {world_size}")
        return d

    pre, sae, probe, ft, shift = (load(n) for n in ("pretrain_cl", "sae", "probe", "finetune", "shift"))
    accs = [a for m in probe.get("methods", {}).values() for r in m["rows"] for a in r["test_acc"].values()]
    accs += [r["final_val_acc"] for r in ft.get("runs", [])]
    accs += [a for s in shift.get("sets", {}).values() for a in s["acc"].values()]
    if not accs or not all(0.0 <= a <= 1.0 for a in accs):
        problems.append(f"accuracies missing or outside [0, 1]: {accs[:5]}")
    cfg = json.loads((out / "config.json").read_text())["config"] if (out / "config.json").exists() else {}
    quirks = {"sae.probe_input": cfg.get("sae", {}).get("probe_input"), "sae.train_data": cfg.get("sae", {}).get(
        "train_data"), "probe.schedule": cfg.get("probe", {}).get("schedule")}
    if quirks != {"sae.probe_input": "raw", "sae.train_data": "two_crop", "probe.schedule": "step"}:
        problems.append(f"paper quirks not in the config: {quirks}")
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
    return {"ok": not problems, "problems": problems, "stage_seconds": timings.get("stage_seconds", {}),
            "loader": timings.get("loader"), "pretrain_images_per_s": [h.get("images_per_s") for h in
                                                                       pre.get("history", [])][-1:],
            "sae_dead_latents": sae.get("dead_latents"), "n_finetune_runs": len(ft.get("runs", []))}


def estimate(report: dict) -> dict:
    """The full paper preset's hours per stage at the measured end-to-end (and step-only) pretraining rates."""
    from monotheory.vision.eta import FWD_BWD, estimate_hours
    from monotheory.vision.presets import build_config

    cfg = build_config("paper", "imagenet100")
    if report.get("device") == "cpu":  # the CPU check measures a tiny network at 32 px: not the paper's cost
        report["estimate_note"] = ("--device cpu measures a tiny network at 32 px, so these hours are the paper "
                                   "preset's work at that network's rate, not a forecast for ResNet-18 at 224 px")
    out = {"estimate_basis": "forward-equivalent passes of monotheory.vision.eta.plan_units at the measured "
                             "end-to-end pretraining rate × 2 views × 3 (forward + backward); ImageNet-100: 126,689 "
                             "train, 5,000 val images; one process"}
    for key, rate in (("", report.get("end_to_end_images_per_s")), ("_at_step_rate", report.get("step_images_per_s"))):
        if rate:
            h = estimate_hours(cfg, rate * 2 * FWD_BWD)
            out[f"estimate_paper_preset_hours{key}"] = h["total"]
            out[f"estimate_paper_preset_stage_hours{key}"] = {k: v for k, v in h.items() if k != "total"}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (CUDA 285, CPU 1800)")
    a = p.parse_args(argv)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    cuda = a.device == "cuda"
    t0 = time.perf_counter()
    deadline = t0 + (a.budget if a.budget is not None else (285 if cuda else 1800))
    report: dict = {"check": "gpu_check", "device": a.device, "versions": versions(a.device), "steps": {}}
    if cuda and not report["versions"]["cuda_available"]:
        print("gpu_check: --device cuda but no CUDA device is available; use --device cpu", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if not cuda:
        env["OMP_NUM_THREADS"] = "1"
    path = out / "gpu_check.json"

    def save():
        report["seconds"] = time.perf_counter() - t0
        atomic_write_json(path, report)

    save()
    py, steps = sys.executable, "benchmarks/gpu_check_steps.py"
    data = out / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = [("data", [py, steps, "data", str(data), "--device", a.device]),
            ("loaders", [py, steps, "loaders", str(data), "--device", a.device, "--seconds", "8" if cuda else "1"]),
            ("rates", [py, steps, "rates", str(data), "--device", a.device]),
            ("slice", [py, "-m", "monotheory", *slice_args(a.device, data, out / "slice")]),
            ("slice_torchrun", [py, "-m", "torch.distributed.run", "--nproc_per_node=1", f"--master_port={port}",
                                "-m", "monotheory", *slice_args(a.device, data, out / "slice_torchrun")])]
    for name, cmd in plan:
        left = deadline - time.perf_counter()
        if left < 10:
            report["steps"][name] = {"rc": None, "skipped": f"out of time ({left:.0f} s of the budget left)"}
            save()
            continue
        r = run_step(name, cmd, env, min(BUDGETS[name][0 if cuda else 1], left), logs)
        report["steps"][name] = r
        res = r["result"] or {}
        if name == "loaders":
            report.update(loader_crop=res.get("crop"), loader_pil_images_per_s=res.get("pil_images_per_s"),
                          loader_gpu_images_per_s=res.get("gpu_images_per_s"),
                          loader_dali_images_per_s=res.get("dali_images_per_s"),
                          loader_gpu_over_pil=res.get("ratio_gpu_over_pil"))
        elif name == "rates":
            report.update({k: res.get(k) for k in ("step_images_per_s", "end_to_end_images_per_s",
                                                   "end_to_end_ratio")})
        elif name.startswith("slice"):
            r["outputs"] = check_outputs(out / name, 1)
            report[f"{name}_stage_seconds"] = r["outputs"]["stage_seconds"]
            report[f"{name}_seconds"] = r["seconds"]
        save()
    report.update(estimate(report))
    report["ok"] = all(s.get("rc") == 0 for s in report["steps"].values()) and all(
        report["steps"][k].get("outputs", {}).get("ok") for k in ("slice", "slice_torchrun"))
    save()
    print(json.dumps({"gpu_check": str(path), "ok": report["ok"], "seconds": report["seconds"]}))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
