"""Speed of the toy trainer against the batched-matmul limit and an ARENA-style autograd trainer.

Workload (the issue's shapes): 50 instances cycling through every regime but ``oracle`` (8 regimes, seeds
k // 8), n = 40, m = 20, batch 1024, Adam. Timed in the same run, each as steps per second:

* ``train()`` — the project's trainer (hand-written gradients with fused Numba stages, one random block per
  seed, a chunk of instances per core on threads with one torch thread each);
* the **bmm limit** — only the five batched matrix products one step needs (encode x·Wᵀ, decode a·W, the
  decode input gradient G·Wᵀ, and the two weight gradients aᵀG and dhᵀx) on tensors of the step's shapes,
  nothing else; the best of 1 and 2 torch threads. No trainer can beat it without fewer flops;
* an **ARENA-style autograd trainer** — what a user following the ARENA superposition notebook would write:
  features (batch, instances, n) with two uniforms per feature (magnitude and presence), einsum forward,
  importance-weighted MSE, ``loss.backward()``, ``torch.optim.Adam``; torch's default threads.

``train()`` and the bmm limit are timed in ``--rounds`` interleaved rounds (medians; the ratio is the median of
the per-round ratios); the ARENA trainer once. Last line, JSON: ``ratio_to_bmm_limit`` (target ≥ 0.5) and
``speedup_vs_arena`` (target ≥ 2). Measurement only. ``--scaling`` times ``train()`` at 1 … 400 instances, one
fresh process per size (time per step and peak RSS).

    python benchmarks/bench_toy.py [--steps 200] [--rounds 5] [--instances 50]
    python benchmarks/bench_toy.py --scaling
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def project_rate(instances: int, n: int, m: int, batch: int, steps: int) -> float:
    from monotheory.toy import TOY_REGIMES, ToyConfig
    from monotheory.toy.model import ToyModel
    from monotheory.toy.sampler import FeatureSampler
    from monotheory.toy.train import TrainConfig, train

    regimes = [r for r in TOY_REGIMES if r != "oracle"]
    reg = [regimes[k % len(regimes)] for k in range(instances)]
    seeds = [k // len(regimes) for k in range(instances)]
    cfg = ToyConfig(n=n, m=m, regimes=tuple(regimes), l1_penalty=0.05, topk=m, noise_rate=0.0)
    model = ToyModel(cfg, reg, seeds)
    sampler = FeatureSampler(n, seeds, [0.2] * instances)
    t0 = time.perf_counter()
    train(model, sampler, TrainConfig(steps=steps, batch_size=batch, lr=3e-3))
    return steps / (time.perf_counter() - t0)


def bmm_limit(instances: int, n: int, m: int, batch: int, steps: int, threads: int) -> float:
    """Steps per second of the five batched matmuls of a step alone, at ``threads`` torch threads."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        x, G = torch.rand(instances, batch, n, generator=g), torch.rand(instances, batch, n, generator=g)
        W, b = torch.randn(instances, m, n, generator=g), torch.zeros(instances, 1, n)
        a, dh = torch.empty(instances, batch, m), torch.empty(instances, batch, m)
        z, gW = torch.empty(instances, batch, n), torch.empty(instances, m, n)
        t0 = time.perf_counter()
        for _ in range(steps):
            torch.bmm(x, W.transpose(1, 2), out=a)
            torch.baddbmm(b, a, W, out=z)
            torch.bmm(G, W.transpose(1, 2), out=dh)
            torch.bmm(a.transpose(1, 2), G, out=gW)
            torch.baddbmm(gW, dh.transpose(1, 2), x, out=gW)
        return steps / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)


def arena_rate(instances: int, n: int, m: int, batch: int, steps: int, sparsity: float = 0.2) -> float:
    """A faithful ARENA-style trainer (autograd, Adam, two uniforms per feature), steps per second."""
    g = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(instances, m, n), generator=g))
    b_final = torch.nn.Parameter(torch.zeros(instances, n))
    importance = torch.ones(instances, n)
    opt = torch.optim.Adam([W, b_final], lr=1e-3)

    def generate_batch():
        feat_mag = torch.rand(batch, instances, n, generator=g)
        feat_seeds = torch.rand(batch, instances, n, generator=g)
        return torch.where(feat_seeds <= 1 - sparsity, feat_mag, 0.0)

    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        features = generate_batch()
        hidden = torch.einsum("bif,ihf->bih", features, W)
        out = torch.relu(torch.einsum("bih,ihf->bif", hidden, W) + b_final)
        error = importance * (features - out) ** 2
        loss = error.mean(dim=(0, 2)).sum()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def scaling(a) -> int:
    rows = []
    for inst in (1, 10, 50, 100, 200, 400):
        cmd = [sys.executable, __file__, "--instances", str(inst), "--steps", str(a.steps), "--only-project"]
        out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        rows.append(out)
        print(f"instances {inst:4d}  {1e3 / out['steps_per_s']:8.1f} ms/step  "
              f"{1e3 / out['steps_per_s'] / inst:7.3f} ms/step/instance  peak RSS {out['peak_rss_mib']:6.0f} MiB",
              flush=True)
    print(json.dumps({"scaling_instances": [r["instances"] for r in rows],
                      "scaling_ms_per_step": [1e3 / r["steps_per_s"] for r in rows],
                      "scaling_peak_rss_mib": [r["peak_rss_mib"] for r in rows]}))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=50)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--m", type=int, default=20)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=200, help="steps per timed run (rates are steps/s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of train() and the bmm limit")
    p.add_argument("--scaling", action="store_true", help="time per step at 1 … 400 instances")
    p.add_argument("--only-project", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.scaling:
        return scaling(a)
    shape = (a.instances, a.n, a.m, a.batch)
    if a.only_project:
        project_rate(*shape, 3)  # warm-up: first-call costs (optimizer, allocator) are not per step
        r = project_rate(*shape, a.steps)
        print(json.dumps({"instances": a.instances, "steps_per_s": r, "peak_rss_mib": _peak_mib()}))
        return 0
    project_rate(*shape, 5)  # warm-up (allocator, first-call costs)
    rounds = {"proj": [], 1: [], 2: []}
    for _ in range(a.rounds):  # interleaved: load from other jobs hits both alike; medians of per-round ratios
        rounds["proj"].append(project_rate(*shape, a.steps))
        for t in (1, 2):
            rounds[t].append(bmm_limit(*shape, a.steps, t))
    ratios = [p / max(l1, l2) for p, l1, l2 in zip(rounds["proj"], rounds[1], rounds[2], strict=True)]
    proj = statistics.median(rounds["proj"])
    limits = {t: statistics.median(rounds[t]) for t in (1, 2)}
    arena = arena_rate(*shape, a.steps)
    limit = max(limits.values())
    out = {"ratio_to_bmm_limit": statistics.median(ratios), "target_ratio_to_bmm_limit": 0.5,
           "speedup_vs_arena": proj / arena, "target_speedup_vs_arena": 2.0, "train_steps_per_s": proj,
           "bmm_limit_steps_per_s": limit, "bmm_limit_1_thread": limits[1], "bmm_limit_2_threads": limits[2],
           "arena_steps_per_s": arena, "instances": a.instances, "batch": a.batch, "steps": a.steps,
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}"}
    print(f"{a.instances} instances, n={a.n}, m={a.m}, batch {a.batch}, {a.steps} steps per timing")
    print(f"train()              {proj:7.1f} steps/s")
    print(f"bmm limit            {limit:7.1f} steps/s (1 thread {limits[1]:.1f}, 2 threads {limits[2]:.1f})")
    print(f"ARENA-style autograd {arena:7.1f} steps/s ({torch.get_num_threads()} threads)")
    print(f"ratio to bmm limit   {out['ratio_to_bmm_limit']:.2f} (median of {a.rounds} interleaved rounds; target ≥ 0.5); "
          f"speedup vs ARENA {proj / arena:.2f} (target ≥ 2)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
