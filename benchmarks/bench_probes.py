"""Batched vs per-instance linear probes on the Figure 5 shapes (30 instances, N = 4096, d = 20, C = 41).

Problem (like the toy layer's): x ∈ R^n spike-and-uniform (S = P(zero)), h = W x with a random (m, n) W whose
columns have unit norm, labels = argmax x (class n when x = 0), one problem per instance. Baseline: a Python
loop of :class:`LinearProbe` L-BFGS fits, one per instance (what a user would write). Rows, all timed in the
same run: the batched probe (:func:`monotheory.lbfgs.softmax_lbfgs`), the generic autograd batched L-BFGS
(:func:`monotheory.lbfgs.batched_lbfgs`, the previous implementation), and scikit-learn's
``LogisticRegression`` (lbfgs, float64, same objective: C = 1/(λN)) in a loop, as a reference. Quality: each
fit's objective minus the best objective any row reached on that instance, and the train-accuracy spread.
The last line is JSON: ``speedup_vs_loop`` (target ≥ 3) and the other ratios.

    python benchmarks/bench_probes.py [--instances 30] [--max-iter 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.lbfgs import batched_lbfgs
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


def autograd_batched(h, y, c, wd, max_iter):
    """The generic batched L-BFGS with autograd gradients (the implementation before softmax_lbfgs)."""
    X, Y = torch.from_numpy(h), torch.from_numpy(y)
    inst, _, d = X.shape

    def fun(rows, idx):
        W, b = rows[:, :c * d].reshape(-1, c, d), rows[:, c * d:]
        xs, ys = (X, Y) if idx.numel() == inst else (X[idx], Y[idx])
        logits = torch.baddbmm(b.unsqueeze(1), xs, W.transpose(1, 2))
        ce = F.cross_entropy(logits.reshape(-1, c), ys.reshape(-1), reduction="none").view(ys.shape).mean(1)
        return ce + 0.5 * wd * (W * W).sum((1, 2))

    theta, _ = batched_lbfgs(fun, torch.zeros(inst, c * d + c), max_iter=max_iter)
    return theta[:, :c * d].reshape(inst, c, d).numpy(), theta[:, c * d:].numpy()


def sklearn_loop(h, y, c, wd, max_iter):
    from sklearn.linear_model import LogisticRegression

    n = h.shape[1]
    cf, ic = np.zeros((len(h), c, h.shape[2])), np.zeros((len(h), c))
    for i in range(len(h)):
        lr = LogisticRegression(C=1.0 / (wd * n) if wd > 0 else np.inf, max_iter=max_iter, tol=1e-6)
        lr.fit(h[i], y[i])
        cf[i][lr.classes_], ic[i][lr.classes_] = lr.coef_, lr.intercept_  # classes absent from y stay 0
    return cf, ic


def main(argv=None) -> int:
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
    ap.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference row")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, y = make_problem(args.instances, args.n, args.m, args.samples, args.sparsity, seed=0)
    c, wd, it = args.n + 1, args.weight_decay, args.max_iter

    def loop():
        fits = [LinearProbe(c, weight_decay=wd, max_iter=it).fit(h[i], y[i]) for i in range(args.instances)]
        return np.stack([f.coef_ for f in fits]), np.stack([f.intercept_ for f in fits])

    def batched():
        bp = BatchedLinearProbe(c, weight_decay=wd, max_iter=it).fit(h, y)
        return bp.coef_, bp.intercept_

    rows = {"loop LinearProbe lbfgs": loop, "batched softmax_lbfgs": batched,
            "batched autograd lbfgs (before)": lambda: autograd_batched(h, y, c, wd, it)}
    if not args.no_sklearn:
        rows["loop sklearn LogisticRegression"] = lambda: sklearn_loop(h, y, c, wd, it)
    runs, coefs = {}, {}
    for name, fn in rows.items():
        coefs[name], runs[name] = timed(fn, args.repeats)
    objs = {k: objective(*v, h, y, wd) for k, v in coefs.items()}
    best = np.min(np.stack(list(objs.values())), axis=0)

    base = runs["loop LinearProbe lbfgs"]
    print(f"{args.instances} instances, N={args.samples}, d={args.m}, C={c}, λ={wd}, max_iter={it}, "
          f"{args.threads} torch thread(s), best of {args.repeats}; {platform.machine()}, {platform.python_version()}")
    print("gap = objective − best objective of any row on that instance (nats); acc = train accuracy")
    print(f"{'method':34s} {'seconds':>8s} {'× loop':>7s} {'max gap':>9s} {'mean gap':>9s} {'mean acc':>9s}")
    for name, sec in runs.items():
        cf, ic = coefs[name]
        gap = objs[name] - best
        acc = ((np.einsum("isd,icd->isc", h, cf) + ic[:, None, :]).argmax(-1) == y).mean(1)
        print(f"{name:34s} {sec:8.2f} {base / sec:7.2f} {gap.max():9.2e} {gap.mean():9.2e} {acc.mean():9.4f}")
    out = {"speedup_vs_loop": base / runs["batched softmax_lbfgs"], "target_speedup_vs_loop": 3.0,
           "autograd_batched_speedup_vs_loop": base / runs["batched autograd lbfgs (before)"],
           "loop_seconds": base, "batched_seconds": runs["batched softmax_lbfgs"],
           "batched_mean_gap": float((objs["batched softmax_lbfgs"] - best).mean()),
           "loop_mean_gap": float((objs["loop LinearProbe lbfgs"] - best).mean())}
    if not args.no_sklearn:
        out["sklearn_loop_speedup_vs_loop"] = base / runs["loop sklearn LogisticRegression"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
