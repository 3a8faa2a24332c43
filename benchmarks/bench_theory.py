"""Monte Carlo throughput of ``monotheory.theory.monte_carlo`` against NumPy's one-draw-per-feature rate.

Bound, measured in the same run: drawing exactly the uniforms the estimator consumes (one per feature, two
features per sample, in the estimator's chunks, into a reused buffer) with ``Generator.random`` and nothing
else. ``mc_ratio_to_bound`` = Monte Carlo samples/s ÷ that rate (target ≥ 0.8): the fused Numba kernel runs
while NumPy draws the next chunk on the other core, so it can approach 1 on two free cores. Also timed in the
same run: the pure-NumPy backend and the estimator as it was before this rewrite (reproduced below: two
features drawn by ``SpikeUniform.sample_features``, chunks of 2^20, einsum moments), whose ratio is
``numpy_speedup_vs_before`` (target ≥ 3). Each backend runs in a fresh process per round (as in real use,
one backend per process: the NumPy backend's BLAS worker threads keep spinning after a call and would take
the second core from the Numba backend's overlap). Peak memory: the process's peak RSS.

    python benchmarks/bench_theory.py                     # 5 rounds of 10^7 samples per row
    python benchmarks/bench_theory.py --samples 1e7 --threshold
    python benchmarks/bench_theory.py --scaling           # 10^6 … 10^9 samples, one fresh process each
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from monotheory.theory import SpikeUniform, monte_carlo
from monotheory.theory.mc_kernel import kernel
from monotheory.theory.montecarlo import DEFAULT_CHUNK


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bound_rate(samples: int, chunk: int, seed: int = 0) -> float:
    """Samples per second of drawing one uniform per feature (two per sample), chunked like the estimator."""
    rng, buf = np.random.default_rng(seed), np.empty((chunk, 2))
    t0 = time.perf_counter()
    for start in range(0, samples, chunk):
        rng.random(out=buf[:min(chunk, samples - start)])
    return samples / (time.perf_counter() - t0)


def before_rate(samples: int, s: float, seed: int = 0, chunk: int = 1 << 20) -> float:
    """The estimator's moment loop as it was before (no noise, no threshold): samples per second."""
    model, rng = SpikeUniform(s), np.random.default_rng(seed)
    power = np.zeros((2, 2, 5))
    t0 = time.perf_counter()
    for start in range(0, samples, chunk):
        x = model.sample_features(min(chunk, samples - start), rng)
        y = model.labels(x, rng)
        ny = y.copy()
        w1, w0 = (ny == 1).astype(np.float64), (ny == 0).astype(np.float64)
        for f, nu in enumerate((x[:, 0], x[:, 0] - x[:, 1])):
            nu = np.ascontiguousarray(nu)
            nu2 = nu * nu
            power[f, :, 0] += (w0.sum(), w1.sum())
            for k, v in enumerate((nu, nu2, nu2 * nu, nu2 * nu2), start=1):
                power[f, :, k] += (np.einsum("i,i->", v, w0), np.einsum("i,i->", v, w1))
    return samples / (time.perf_counter() - t0)


def mc_rate(samples: int, s: float, chunk: int, threshold: bool, backend: str) -> tuple[float, dict]:
    monte_carlo(s, min(samples, 100_000), 1, chunk=chunk, threshold=threshold, backend=backend)  # warm / JIT
    t0 = time.perf_counter()
    res = monte_carlo(s, samples, 0, chunk=chunk, threshold=threshold, backend=backend)
    return samples / (time.perf_counter() - t0), res



def _fresh_rate(n: int, args, backend: str) -> float:
    """``monte_carlo`` samples/s in a fresh process (warm-up excluded): one backend's thread pools (BLAS
    workers left spinning by the NumPy backend) must not slow the other's draw/kernel overlap."""
    cmd = [sys.executable, __file__, "--samples", str(n), "--only-mc", "--backend", backend, "--chunk",
           str(args.chunk), "--sparsity", str(args.sparsity)]
    if args.threshold:
        cmd.append("--threshold")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    return json.loads(out)["mc_samples_per_s"]


def scaling(args) -> int:
    """One fresh process per size, so each peak RSS belongs to that size alone."""
    rows = []
    for n in (10**6, 10**7, 10**8, 10**9)[: args.max_exp - 5]:
        cmd = [sys.executable, __file__, "--samples", str(n), "--only-mc", "--backend", args.backend]
        if args.threshold:
            cmd.append("--threshold")
        out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        rows.append(out)
        print(f"samples {n:>13,}  {out['mc_seconds']:8.1f} s  {out['mc_samples_per_s'] / 1e6:7.1f} M/s  "
              f"peak RSS {out['peak_rss_mib']:6.0f} MiB", flush=True)
    t = np.array([r["mc_seconds"] for r in rows])
    rss = np.array([r["peak_rss_mib"] for r in rows])
    print(json.dumps({"scaling_samples": [r["samples"] for r in rows], "scaling_seconds": t.tolist(),
                      "scaling_peak_rss_mib": rss.tolist(), "rss_growth_mib": float(rss.max() - rss.min()),
                      "seconds_per_1e6_largest_vs_1e7": float((t[-1] / rows[-1]["samples"])
                                                              / (t[1] / rows[1]["samples"]))
                      if len(rows) > 1 else None}))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=float, default=1e7, help="draws per measurement (default 1e7)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds (medians reported)")
    p.add_argument("--sparsity", type=float, default=0.2)
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    p.add_argument("--threshold", action="store_true", help="also fill the threshold-criterion histograms")
    p.add_argument("--backend", default="auto", choices=("auto", "numba", "numpy"))
    p.add_argument("--scaling", action="store_true", help="time and peak RSS at 10^6 … 10^9 samples")
    p.add_argument("--max-exp", type=int, default=9, help="largest power of ten for --scaling (default 9)")
    p.add_argument("--only-mc", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = p.parse_args(argv)
    if a.scaling:
        return scaling(a)
    n, s = int(a.samples), a.sparsity
    if a.only_mc:
        rate, _ = mc_rate(n, s, a.chunk, a.threshold, a.backend)
        print(json.dumps({"samples": n, "mc_seconds": n / rate, "mc_samples_per_s": rate, "peak_rss_mib": _peak_mib()}))
        return 0
    accel = kernel() is not None and a.backend != "numpy"
    names = (["numba"] if accel else []) + ["numpy", "before"]
    rates = {k: [] for k in ["bound"] + names}
    monte_carlo(s, 100_000, 1, chunk=a.chunk, threshold=a.threshold, backend="auto")  # compile once, cached
    for _ in range(a.rounds):  # interleaved rounds: load from other jobs hits every row alike; medians below
        rates["bound"].append(bound_rate(n, a.chunk))
        for k in names:
            rates[k].append(before_rate(n, s) if k == "before" else _fresh_rate(n, a, k))
    ratio = {k: float(np.median(np.array(rates[k]) / np.array(rates["bound"]))) for k in names}
    med = {k: float(np.median(v)) for k, v in rates.items()}
    main_name = "numba" if accel else "numpy"
    speedup = float(np.median(np.array(rates["numpy"]) / np.array(rates["before"])))
    out = {"mc_ratio_to_bound": ratio[main_name], "target_mc_ratio_to_bound": 0.8,
           "numpy_ratio_to_bound": ratio["numpy"], "numpy_speedup_vs_before": speedup,
           "target_numpy_speedup_vs_before": 3.0, "before_ratio_to_bound": ratio["before"],
           "bound_samples_per_s": med["bound"], "mc_samples_per_s": med[main_name],
           "numpy_samples_per_s": med["numpy"], "before_samples_per_s": med["before"], "backend": main_name,
           "samples_per_measurement": n, "rounds": a.rounds, "threshold": a.threshold,
           "peak_rss_mib": _peak_mib(), "machine": f"{platform.machine()}, {os.cpu_count()} cpus"}
    print(f"{n:,} samples per measurement, {a.rounds} interleaved rounds, medians (chunk {a.chunk:,}, "
          f"threshold histograms: {a.threshold})")
    print(f"bound (numpy draws) {med['bound'] / 1e6:8.1f} M samples/s (one uniform per feature, 2 features)")
    for k in names:
        label = "before (old loop)" if k == "before" else f"monte carlo {k}"
        print(f"{label:19s} {med[k] / 1e6:8.1f} M samples/s   ratio to bound {ratio[k]:.3f}")
    print(f"numpy backend / before: {speedup:.2f}×;  peak RSS {_peak_mib():.0f} MiB")
    if a.json:
        from monotheory.files import atomic_write_json

        atomic_write_json(a.json, out)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
