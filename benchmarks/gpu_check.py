"""The body of ``benchmarks/gpu_check.sh``: one machine check written as one JSON file (see the shell script).

Steps, each timed, its exit status and last JSON line kept: (1) device and versions; (2) ``bench_vision``;
(3) ``bench_loader`` (torchvision and, when installed, DALI); (4) a short ``run-imagenet --preset paper`` slice
on a generated 100-class ImageNet-shaped folder (WordNet-id class folders, JPEGs) through every stage, its
outputs checked; (5) the same slice under ``torchrun --nproc_per_node=1`` (NCCL on CUDA, gloo on CPU). No
network is used. ``--device cpu`` shrinks every step (tiny network, small images) so that the script runs
here in the slow test suite; on CUDA the sizes are meant to finish in under 8 minutes on one GPU.
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


def versions(device: str) -> dict:
    import torch
    import torchvision

    from monotheory.vision.dali_loader import dali_available

    info = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "platform": platform.platform(), "device": device, "cpu_count": os.cpu_count(),
            "cuda_available": torch.cuda.is_available(), "cuda": torch.version.cuda, "dali": None}
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), gpu_count=torch.cuda.device_count(),
                    gpu_memory_gib=torch.cuda.get_device_properties(0).total_memory / 2 ** 30)
    if dali_available():
        import nvidia.dali

        info["dali"] = nvidia.dali.__version__
    return info


def step(name: str, cmd: list[str], env: dict, timeout: int, log_dir: Path) -> dict:
    """Run ``cmd``; keep its exit status, wall time, log file and the last line that parses as JSON."""
    t0 = time.perf_counter()
    log = log_dir / f"{name}.log"
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out = 124, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    log.write_text(out)
    last = None
    for line in reversed(out.splitlines()):
        try:
            last = json.loads(line)
            break
        except ValueError:
            continue
    print(f"[gpu_check] {name}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
    return {"rc": rc, "seconds": time.perf_counter() - t0, "result": last, "log": str(log),
            "tail": out[-1500:] if rc else ""}


def make_folder(root: Path, per_class: tuple[int, int], size: tuple[int, int]) -> Path:
    """ImageNet-100-shaped folder: the 100 WordNet ids as class folders under train/ and val/, JPEG images."""
    import numpy as np
    from PIL import Image

    from monotheory.seeding import generator
    from monotheory.vision.data import imagenet100_classes

    rng = generator(0, "gpu-check", "images")
    w, h = size
    for split, n in zip(("train", "val"), per_class, strict=True):
        for ci, wnid in enumerate(imagenet100_classes()):
            d = root / split / wnid
            d.mkdir(parents=True, exist_ok=True)
            base = rng.integers(0, 256, 3)
            for i in range(n):
                img = np.clip(base + rng.normal(0, 40, (h, w, 3)) + 30 * np.sin(np.arange(w) * (1 + ci % 7) / 9)[None, :,
                                                                                                                None], 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.jpg", quality=90)
    return root


def slice_args(device: str, root: Path, out: Path) -> list[str]:
    """The paper preset, cut to a few hundred steps (CUDA) or to seconds (CPU: tiny network, 32 px)."""
    args = ["run-imagenet", "--preset", "paper", "--dataset", "imagenet100", "--data-root", str(root), "--out",
            str(out), "--device", device, "--quiet", "--shift-severities", "3"]
    if device == "cuda":
        return args + ["--epochs", "30", "--warmup-epochs", "2", "--sae-epochs", "10", "--probe-epochs", "50",
                       "--ft-epochs", "2", "--ft-few-shot-epochs", "2", "--num-workers", "8"]
    return args + ["--arch", "tiny", "--cifar-stem", "--crop-size", "32", "--eval-resize", "0", "--no-blur",
                   "--proj-hidden", "64", "--proj-out", "32", "--epochs", "1", "--warmup-epochs", "0",
                   "--batch-size", "32", "--sae-n-latents", "32", "--sae-k", "4", "--sae-epochs", "2",
                   "--probe-epochs", "3", "--probe-noise-rates", "0,0.9", "--probe-sigmas", "0,0.6",
                   "--ft-epochs", "1", "--ft-few-shot-epochs", "1", "--ft-fractions", "0.5,1", "--ft-batch-size",
                   "32", "--num-workers", "0", "--threads", "1", "--shift-corruptions", "gaussian_noise"]


def check_outputs(out: Path, world_size: int) -> dict:
    """What a finished slice must hold: every stage's JSON, finite accuracies in [0, 1], the paper quirks."""
    problems = []

    def load(name):
        p = out / f"{name}.json"
        if not p.exists():
            problems.append(f"{name}.json missing")
            return {}
        return json.loads(p.read_text())

    pre, sae, probe, ft, shift = (load(n) for n in ("pretrain_cl", "sae", "probe", "finetune", "shift"))
    accs = [a for m in probe.get("methods", {}).values() for r in m["rows"] for a in r["test_acc"].values()]
    accs += [r["final_val_acc"] for r in ft.get("runs", [])]
    accs += [a for s in shift.get("sets", {}).values() for a in s["acc"].values()]
    if not accs or not all(0.0 <= a <= 1.0 for a in accs):
        problems.append(f"accuracies missing or outside [0, 1]: {accs[:5]}")
    if pre and pre.get("world_size") != world_size:
        problems.append(f"pretrain world_size {pre.get('world_size')} != {world_size}")
    cfg = json.loads((out / "config.json").read_text())["config"] if (out / "config.json").exists() else {}
    quirks = {"sae.probe_input": cfg.get("sae", {}).get("probe_input"), "sae.train_data": cfg.get("sae", {}).get(
        "train_data"), "probe.schedule": cfg.get("probe", {}).get("schedule")}
    if quirks != {"sae.probe_input": "raw", "sae.train_data": "two_crop", "probe.schedule": "step"}:
        problems.append(f"paper quirks not in the config: {quirks}")
    clean = {m: next(r["test_acc"]["0"] for r in d["rows"] if r["noise_rate"] == 0)
             for m, d in probe.get("methods", {}).items()}
    return {"ok": not problems, "problems": problems, "clean_top1": clean, "sae_dead_latents": sae.get("dead_latents"),
            "pretrain_images_per_s": [h.get("images_per_s") for h in pre.get("history", [])][-1:],
            "n_finetune_runs": len(ft.get("runs", []))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out_dir")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    a = p.parse_args(argv)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if a.device == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    report: dict = {"check": "gpu_check", "device": a.device, "versions": versions(a.device), "steps": {}}
    if a.device == "cuda" and not report["versions"]["cuda_available"]:
        print("gpu_check: --device cuda but no CUDA device is available; use --device cpu", file=sys.stderr)
        return 2
    py = sys.executable
    cuda = a.device == "cuda"
    bench_vision = [py, "benchmarks/bench_vision.py", "--device", a.device] + (
        ["--batch", "128", "--sizes", "224", "--steps", "20", "--warmup", "3", "--compile", "--proj-hidden", "16384"]
        if cuda else ["--batch", "4", "--sizes", "32", "--steps", "2", "--arch", "tiny", "--proj-hidden", "64",
                      "--proj-out", "32"])
    report["steps"]["bench_vision"] = step("bench_vision", bench_vision, env, 300, logs)
    bench_loader = [py, "benchmarks/bench_loader.py", "--device", a.device] + (
        ["--n", "1000", "--batch", "128", "--workers", "8"] if cuda else ["--n", "32", "--batch", "16",
                                                                          "--workers", "1", "--crop", "64"])
    report["steps"]["bench_loader"] = step("bench_loader", bench_loader, env, 300, logs)
    data = out / "data"
    if not (data / "val").exists():
        make_folder(data, (8, 2) if cuda else (2, 1), (500, 375) if cuda else (64, 48))
    run_out = out / "slice"
    report["steps"]["slice"] = step("slice", [py, "-m", "monotheory", *slice_args(a.device, data, run_out)], env,
                                    600, logs)
    report["steps"]["slice"]["outputs"] = check_outputs(run_out, 1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ddp_out = out / "slice_torchrun"
    report["steps"]["slice_torchrun"] = step(
        "slice_torchrun", [py, "-m", "torch.distributed.run", "--nproc_per_node=1", f"--master_port={port}", "-m",
                           "monotheory", *slice_args(a.device, data, ddp_out)[0:]], env, 600, logs)
    report["steps"]["slice_torchrun"]["outputs"] = check_outputs(ddp_out, 1)
    report["seconds"] = time.perf_counter() - t0
    report["ok"] = all(s["rc"] == 0 for s in report["steps"].values()) and all(
        report["steps"][k]["outputs"]["ok"] for k in ("slice", "slice_torchrun"))
    from monotheory.files import atomic_write_json

    atomic_write_json(out / "gpu_check.json", report)
    print(json.dumps({"gpu_check": str(out / "gpu_check.json"), "ok": report["ok"], "seconds": report["seconds"]}))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
