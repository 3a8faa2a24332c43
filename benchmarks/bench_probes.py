"""Batched vs per-instance linear probes on toy-model-sized problems.

Problem (like the toy layer's): x ∈ R^n spike-and-uniform (S = P(zero)), h = W x with a random (m, n) W whose
columns have unit norm, labels = argmax x (class n when x = 0), one problem per instance. Baseline: a Python
loop of :class:`LinearProbe` L-BFGS fits, one per instance. Printed: wall-clock ratios against that baseline
(measured in the same run), and how far each fit is from the per-instance optimum (objective gap, accuracy).

    .venv/bin/python benchmarks/bench_probes.py [--instances 30] [--max-iter 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.probes import BatchedLinearProbe, LinearProbe


def make_problem(instances: int, n: int, m: int, samples: int, sparsity: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (instances, samples, n)) * (rng.random((instances, samples, n)) >= sparsity)
    W = rng.standard_normal((instances, m, n))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    h = np.einsum("imn,isn->ism", W, x).astype(np.float32)
    y = np.where(x.max(-1) > 0, x.argmax(-1), n)
    return h, y


def objective(coef, intercept, h, y, weight_decay) -> np.ndarray:
    """Per-instance mean cross-entropy + (λ/2)‖W‖², in float64."""
    X, W, b = (torch.tensor(a, dtype=torch.float64) for a in (h, coef, intercept))
    logits = torch.baddbmm(b.unsqueeze(1), X, W.transpose(1, 2))
    ce = F.cross_entropy(logits.transpose(1, 2), torch.tensor(y), reduction="none").mean(1)
    return (ce + 0.5 * weight_decay * (W * W).sum((1, 2))).numpy()


def timed(fn, repeats: int):
    """Result and the best wall-clock time of ``repeats`` runs (the minimum filters out load from other jobs
    on a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--m", type=int, default=20)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--sparsity", type=float, default=0.2)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a shared box)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats; the best is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h, y = make_problem(args.instances, args.n, args.m, args.samples, args.sparsity, seed=0)
    c, wd = args.n + 1, args.weight_decay

    # reference optimum: per-instance L-BFGS in float64, run to convergence
    ref = [LinearProbe(c, weight_decay=wd, max_iter=2000, tol=1e-9, dtype=torch.float64).fit(h[i], y[i])
           for i in range(args.instances)]
    f_ref = objective(np.stack([r.coef_ for r in ref]), np.stack([r.intercept_ for r in ref]), h, y, wd)
    acc_ref = np.array([r.score(h[i], y[i]) for i, r in enumerate(ref)])

    def loop():
        return [LinearProbe(c, weight_decay=wd, max_iter=args.max_iter).fit(h[i], y[i])
                for i in range(args.instances)]

    runs = {}
    fits, runs["loop LinearProbe lbfgs"] = timed(loop, args.repeats)
    coefs = {"loop LinearProbe lbfgs": (np.stack([f.coef_ for f in fits]), np.stack([f.intercept_ for f in fits]))}
    for name, kw in [("batched lbfgs", dict(solver="lbfgs", max_iter=args.max_iter)),
                     ("batched adam 500 steps", dict(solver="adam", lr=0.05, max_iter=500))]:
        bp, runs[name] = timed(lambda kw=kw: BatchedLinearProbe(c, weight_decay=wd, **kw).fit(h, y),
                               args.repeats)
        coefs[name] = (bp.coef_, bp.intercept_)

    base = runs["loop LinearProbe lbfgs"]
    print(f"{args.instances} instances, N={args.samples}, d={args.m}, C={c}, λ={wd}, "
          f"max_iter={args.max_iter}, {args.threads} threads, best of {args.repeats}")
    print("gap = objective − per-instance float64 optimum (nats); Δacc = |train accuracy − optimum's|")
    print(f"{'method':28s} {'seconds':>8s} {'× loop':>7s} {'max gap':>9s} {'mean gap':>9s} {'Δacc max':>9s}")
    for name, sec in runs.items():
        cf, ic = coefs[name]
        gap = objective(cf, ic, h, y, wd) - f_ref
        pred = np.einsum("isd,icd->isc", h, cf) + ic[:, None, :]
        acc = (pred.argmax(-1) == y).mean(1)
        print(f"{name:28s} {sec:8.2f} {base / sec:7.2f} {gap.max():9.2e} {gap.mean():9.2e} "
              f"{np.abs(acc - acc_ref).max():9.4f}")


if __name__ == "__main__":
    main()
