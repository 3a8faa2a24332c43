"""Speed of the toy-model layer.

1. The Figure 5 default reproduction (``ToyConfig()``: 5 regimes × 10 seeds, n = 40, m = 20, 2000 Adam
   steps of batch 1024, then clean / label-noise / input-noise probes), timed end to end.
2. The batched trainer against a per-instance Python loop (same instances, same steps, same batch),
   measured in this run on ``--compare-steps`` steps, twice: (a) the Figure 5 layout, where the regimes
   share seeds — the batched sampler then draws ONE block of uniforms per distinct seed and shares it across
   regimes, while the loop draws once per instance, so the loop does more random-number work; (b) every
   instance with a seed of its own, so both draw once per instance and the work really is the same.

    python benchmarks/bench_toy.py [--threads 2] [--compare-steps 300] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--compare-steps", type=int, default=300, help="steps of the batched-vs-loop comparison")
    p.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    a = p.parse_args()
    import torch

    from monotheory.toy import REGIMES, ToyConfig
    from monotheory.toy.experiments import run_figure5
    from monotheory.toy.model import FeatureSampler, ToyModel
    from monotheory.toy.train import TrainConfig, train, train_one_by_one

    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cpus, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}")

    cfg = ToyConfig(seeds=2, steps=50, probe_train=512, probe_test=512) if a.quick else ToyConfig()
    t0 = time.perf_counter()
    res = run_figure5(cfg)
    total = time.perf_counter() - t0
    print(f"Figure 5 default ({len(cfg.regimes)} regimes × {cfg.seeds} seeds, {cfg.steps} steps × batch "
          f"{cfg.batch_size}, probes on {cfg.probe_train}/{cfg.probe_test} samples): {total:.1f} s "
          f"(training {res['train_seconds']:.1f} s, probing + noise + metrics {total - res['train_seconds']:.1f} s)")

    regimes = [r for r in REGIMES if r != "oracle" for _ in range(cfg.seeds)]
    shared = [s for r in REGIMES if r != "oracle" for s in range(cfg.seeds)]
    own = list(range(len(regimes)))  # one seed per instance: no draw is shared
    steps = 20 if a.quick else a.compare_steps
    sp = [cfg.sparsity] * len(regimes)
    for batch in (cfg.batch_size, 64):  # the default batch, and a small one where Python overhead dominates
        tc = TrainConfig(steps=steps, batch_size=batch, lr=cfg.lr)
        ratios = {}
        for name, seeds in (("shared seeds", shared), ("own seeds", own)):
            model = ToyModel(cfg.n, cfg.m, regimes, seeds, l1_penalty=cfg.l1_penalty)
            t0 = time.perf_counter()
            train(model, FeatureSampler(cfg.n, seeds, sp), tc)
            batched = time.perf_counter() - t0
            model = ToyModel(cfg.n, cfg.m, regimes, seeds, l1_penalty=cfg.l1_penalty)
            t0 = time.perf_counter()
            train_one_by_one(model, lambda k, seeds=seeds: FeatureSampler(cfg.n, [seeds[k]], [sp[k]]), tc)
            loop = time.perf_counter() - t0
            ratios[name] = loop / batched
            print(f"training {len(regimes)} instances ({len(set(seeds))} distinct seeds) × {steps} steps × batch "
                  f"{batch}: batched {batched:.2f} s, per-instance loop {loop:.2f} s → batched is "
                  f"{loop / batched:.1f}× faster")
        print(f"  batch {batch}: {ratios['shared seeds']:.1f}× with shared seeds (the batched trainer draws one "
              f"random block per seed for all regimes, the loop one per instance), {ratios['own seeds']:.1f}× "
              f"with one seed per instance (identical random-number work: the fair comparison)")


if __name__ == "__main__":
    main()
