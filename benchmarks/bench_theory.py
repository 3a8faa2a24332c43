"""Monte Carlo throughput of ``monotheory.theory.monte_carlo`` against NumPy's raw random-number rate.

Baseline, measured in the same run: drawing the same uniforms the estimator consumes (two per sample, in
the same chunks) with ``numpy.random.Generator.random`` and nothing else. The ratio says how much the
labelling, features and streamed sums cost on top of the random numbers. Peak memory: the process's peak
RSS (``resource.getrusage``) before and after the Monte Carlo run, which must not grow with ``--samples``.

    python benchmarks/bench_theory.py                 # 10^8 samples
    python benchmarks/bench_theory.py --samples 1e7 --threshold
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np

from monotheory.theory import monte_carlo
from monotheory.theory.montecarlo import DEFAULT_CHUNK


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def raw_rate(samples: int, chunk: int, seed: int = 0) -> float:
    """Samples per second of drawing two uniforms per sample, chunked like the estimator."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for start in range(0, samples, chunk):
        rng.random((min(chunk, samples - start), 2))
    return samples / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=float, default=1e8, help="Monte Carlo draws (default 1e8)")
    p.add_argument("--sparsity", type=float, default=0.2)
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    p.add_argument("--threshold", action="store_true", help="also fill the threshold-criterion histograms")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = p.parse_args(argv)
    n = int(a.samples)
    before = _peak_mib()
    baseline = raw_rate(n, a.chunk)
    t0 = time.perf_counter()
    res = monte_carlo(a.sparsity, n, 0, chunk=a.chunk, threshold=a.threshold)
    seconds = time.perf_counter() - t0
    rate = n / seconds
    after = _peak_mib()
    out = {"samples": n, "sparsity": a.sparsity, "chunk": a.chunk, "threshold": a.threshold,
           "mc_seconds": seconds, "mc_samples_per_s": rate, "numpy_uniforms_samples_per_s": baseline,
           "ratio_mc_over_numpy": rate / baseline, "peak_rss_mib_before": before, "peak_rss_mib_after": after,
           "fisher_mono": res["mono"]["fisher"], "fisher_poly": res["poly"]["fisher"],
           "machine": f"{platform.machine()}, {platform.python_version()}"}
    print(f"samples            {n:,} (chunk {a.chunk:,}, threshold histograms: {a.threshold})")
    print(f"numpy uniforms     {baseline:,.0f} samples/s (2 doubles each)")
    print(f"monte carlo        {rate:,.0f} samples/s ({seconds:.1f} s)")
    print(f"ratio mc / numpy   {rate / baseline:.3f}")
    print(f"peak RSS           {before:.0f} MiB before, {after:.0f} MiB after")
    if a.json:
        from monotheory.report import atomic_write_json

        atomic_write_json(a.json, out)
    else:
        print(json.dumps({k: out[k] for k in ("ratio_mc_over_numpy", "peak_rss_mib_after")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
