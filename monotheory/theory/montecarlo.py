"""Monte Carlo estimates of the theory's quantities, with standard errors, streamed in chunks.

Conventions as in :mod:`monotheory.theory.datamodel` (S = P(feature is zero); y = 1 iff x1 is the strict
argmax; label noise on y; input noise N(0, λ²) on x after labelling). Memory is flat in the number of
samples: each chunk only adds to power sums Σ ν^k · 1{ỹ = c} (k ≤ 4) and, for the threshold criterion, to a
histogram of ν per (clean label, noisy label).

Standard errors: every moment and the fisher/unnormalized criteria are smooth functions of the means of
z = (1{ỹ=c}, ν·1{ỹ=c}, ν²·1{ỹ=c})_{c=0,1} over all draws (a dropped tie contributes z = 0); their SE is the
delta method, √(gᵀ Σ g / N), with Σ the covariance of z (from the power sums up to ν⁴) and g the gradient
(central differences). ``threshold_error``: the cut is fitted on the histogram of the noisy labels (bin width
``bin_width`` entry). Its error has two parts: the binomial √(e(1 − e)/N) given the cut, and the noise of the
fitted cut, which shrinks only like N^(−1/3) (an argmin). So its SE comes from ``N_BATCHES`` interleaved
batches, each fitting its own cut: SE = sd(batch estimates)·B^(−1/3), right in the N^(−1/3) regime and
conservative (by B^(1/6)) in the N^(−1/2) one. Binning bias is O(h²) at a smooth optimum.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from monotheory.config import check_choice, check_int, check_nonnegative, usable_cores
from monotheory.errors import ConfigError
from monotheory.progress import tqdm_kwargs
from monotheory.seeding import as_generator
from monotheory.theory import mc_kernel, registry
from monotheory.theory.datamodel import (
    REGIMES,
    SpikeUniform,
    check_weights,
    transition_rates,
)

MOMENT_KEYS = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1", "fisher", "unnormalized")
DEFAULT_CHUNK = 1 << 15  # 512 KiB of uniforms for two features: stays in L2
N_BINS = 4096
N_BATCHES = 20


def _functions(m: np.ndarray, criteria=()) -> np.ndarray:
    """The estimands from the 6 means (E[1_0], E[ν1_0], E[ν²1_0], E[1_1], E[ν1_1], E[ν²1_1]), then the
    registered ``criteria`` (:mod:`monotheory.theory.registry`) evaluated on the estimated moments."""
    n0, s0, q0, n1, s1, q1 = m
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty class gives NaN, reported as such
        mu0, mu1 = s0 / n0, s1 / n1
        var0, var1 = q0 / n0 - mu0**2, q1 / n1 - mu1**2
        d = mu1 - mu0
        base = [n0 / (n0 + n1), n1 / (n0 + n1), mu0, mu1, d, var0, var1, d * d / (var0 + var1), d / (var0 + var1)]
        mom = dict(zip(MOMENT_KEYS[:7], base[:7], strict=True))
        return np.array(base + [float(registry.evaluate(c, mom)) for c in criteria])


def delta_method(power: np.ndarray, n_draws: int, criteria=()) -> dict:
    """Estimates and delta-method SEs from power sums ``power[c, k]`` = Σ ν^k 1{ỹ=c}, k = 0..4 (and of the
    registered moment ``criteria``)."""
    e = power / n_draws  # E[ν^k 1_c]
    m = np.concatenate([e[0, :3], e[1, :3]])
    second = np.zeros((6, 6))
    for c in (0, 1):
        for a in range(3):
            for b in range(3):
                second[3 * c + a, 3 * c + b] = e[c, a + b]  # cross-class products vanish
    cov = second - np.outer(m, m)
    est = _functions(m, criteria)
    grad = np.zeros((len(est), 6))
    for i in range(6):
        step = 1e-6 * max(abs(m[i]), 1e-4)
        hi, lo = m.copy(), m.copy()
        hi[i] += step
        lo[i] -= step
        grad[:, i] = (_functions(hi, criteria) - _functions(lo, criteria)) / (2 * step)
    se = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", grad, cov, grad), 0.0) / n_draws)
    return {k: (float(est[i]), float(se[i])) for i, k in enumerate(MOMENT_KEYS + tuple(criteria))}


def _bins(name: str, weights, sigma: float) -> tuple[float, int, int]:
    """Bin width h and index range: bin k holds ((k−1)h, kh], so a cut at an edge kh separates exactly."""
    a, b = check_weights(weights)
    lo, hi, scale = (0.0, 1.0, 1.0) if name == "mono" else (-b, a, float(np.hypot(a, b)))
    pad = 5 * sigma * scale
    h = (hi - lo + 2 * pad) / (N_BINS - 4)
    return h, int(np.floor((lo - pad) / h)) - 1, int(np.ceil((hi + pad) / h)) + 1


def _threshold_from_hist(hist: np.ndarray) -> tuple[float, int]:
    """Best cut on noisy labels from hist[y, ỹ, bin]: (clean error, kept count)."""
    kept = hist.sum()
    noisy1, noisy0 = hist[:, 1].sum(axis=0), hist[:, 0].sum(axis=0)
    clean1, clean0 = hist[1].sum(axis=0), hist[0].sum(axis=0)
    # cut after bin k (k = −1: everything predicted 1); rule "ν > cut → 1"
    noisy_err = np.concatenate([[0], np.cumsum(noisy1)]) + noisy0.sum() - np.concatenate([[0], np.cumsum(noisy0)])
    clean_err = np.concatenate([[0], np.cumsum(clean1)]) + clean0.sum() - np.concatenate([[0], np.cumsum(clean0)])
    both_noisy = np.concatenate([noisy_err, kept - noisy_err])
    both_clean = np.concatenate([clean_err, kept - clean_err])
    k = int(np.argmin(both_noisy))
    return float(both_clean[k] / kept), int(kept)


def threshold_estimate(batched_hist: np.ndarray) -> tuple[float, float]:
    """(estimate, SE) of the threshold error from histograms hist[batch, y, ỹ, bin] (see module doc)."""
    e, _ = _threshold_from_hist(batched_hist.sum(axis=0))
    per_batch = [_threshold_from_hist(h)[0] for h in batched_hist if h.sum() > 0]
    b = len(per_batch)
    se = float(np.std(per_batch, ddof=1) * b ** (-1 / 3)) if b > 1 else float("nan")
    return e, se


BACKENDS = ("auto", "numba", "numpy")


def _backend(name: str):
    """The Numba kernel for ``numba`` / ``auto`` (None for ``numpy``, or ``auto`` without Numba)."""
    check_choice("backend", name, BACKENDS)
    if name == "numpy":
        return None
    kern = mc_kernel.kernel()
    if kern is None and name == "numba":
        raise ConfigError("backend = 'numba' needs the optional package numba (pip install monotheory[fast]); "
                          "allowed without it: 'auto', 'numpy'")
    return kern


class _Draws:
    """The random numbers of one chunk, or of a run of consecutive chunks (see :mod:`monotheory.theory.mc_kernel`
    for their order within a chunk), in reused arrays of ``rows`` rows."""

    def __init__(self, rows: int, d: int, coin: bool, flip: bool, gauss: bool):
        self.u = np.empty((rows, d))
        self.coin = np.empty(rows) if coin else None
        self.flip = np.empty(rows) if flip else None
        self.gauss = np.empty((rows, 2)) if gauss else None
        self.n = 0

    def fill(self, rng: np.random.Generator, *sizes: int) -> _Draws:
        """Draw chunks of ``sizes`` rows one after another (each chunk's draws in the order of the module
        doc), stored back to back: the same numbers as filling one chunk at a time."""
        o = 0
        for n in sizes:
            rng.random(out=self.u[o:o + n])
            for a in (self.coin, self.flip):
                if a is not None:
                    rng.random(out=a[o:o + n])
            if self.gauss is not None:
                rng.standard_normal(out=self.gauss[o:o + n])
            o += n
        self.n = o
        return self

    def args(self) -> tuple:
        """NumPy-path arguments (u, coin, flip, gauss); None for draws a setting does not need."""
        n = self.n
        return (self.u[:n], None if self.coin is None else self.coin[:n],
                None if self.flip is None else self.flip[:n], None if self.gauss is None else self.gauss[:n])

    def kernel_args(self) -> tuple:
        """Kernel arguments (u flat, rest, coin, flip, gauss flat); None for draws a setting does not need."""
        n = self.n
        u = self.u[:n]
        rest = None
        if u.shape[1] > 2:  # the kernel reads rows of two: copy the first two columns, pass max u[:, 1:]
            rest = u[:, 1:].max(axis=1)
            u = np.ascontiguousarray(u[:, :2])
        coin = None if self.coin is None else self.coin[:n]
        flip = None if self.flip is None else self.flip[:n]
        gauss = None if self.gauss is None else self.gauss[:n].reshape(-1)
        return u.reshape(-1), rest, coin, flip, gauss


def _sampler_output(name: str, y: np.ndarray, out) -> np.ndarray:
    """The sampler's noisy labels as a bool array, or ConfigError if they are not 0/1 of ``y``'s shape."""
    out = np.asarray(out)
    if out.shape != y.shape or not np.all((out == 0) | (out == 1)):
        raise ConfigError(f"noise_model = {name!r}: its sampler returned {out.dtype} of shape {out.shape}; it must "
                          f"return labels 0/1 of the input's shape {y.shape}")
    return out.astype(bool)


def _check_sampler(name: str, noise_rate: float) -> None:
    """Call a sampler-only model once on a few labels (its own generator) before any work starts."""
    y = np.array([0, 1, 0, 1, 1, 0], dtype=np.int64)
    sampler = registry.get_noise_model(name).sampler
    try:
        out = sampler(y, noise_rate, np.random.default_rng(0))
    except Exception as e:  # noqa: BLE001 - one sentence instead of a traceback
        raise ConfigError(f"noise_model = {name!r}: its sampler failed on labels {y.tolist()} at noise_rate = "
                          f"{noise_rate:g} ({type(e).__name__}: {e})") from None
    _sampler_output(name, y, out)


def _relabel(name: str, noise_rate: float, rng: np.random.Generator):
    """The ``relabel`` hook of :func:`mc_kernel.chunk_numpy` for a sampler-only noise model: the registered
    ``sampler(y, noise_rate, rng)`` on each chunk's clean labels (int64 0/1), drawing from the run's generator."""
    sampler = registry.get_noise_model(name).sampler

    def relabel(y1: np.ndarray) -> np.ndarray:
        y = y1.astype(np.int64)
        return _sampler_output(name, y, sampler(y, noise_rate, rng))
    return relabel


HANDOFF_ROWS = 1 << 17  # rows per kernel call (whole chunks): amortises the call and the thread round trip


def _kernel_loop(kern, rng, samples, chunk, n_features, flags, consts, power, hist, hmeta, bar) -> int:
    """The Numba path; returns the kept count. NumPy draws a group of consecutive chunks (the same numbers, in
    the same order, as the NumPy path) while the kernel, which releases the GIL, runs on the previous group
    in a worker thread; one kernel call per group of about :data:`HANDOFF_ROWS` rows keeps the per-call cost
    small against the draws. One core: the same work in turn. Only the kernel writes ``power`` and ``hist``."""
    n_chunks = -(-samples // chunk)
    group = max(1, HANDOFF_ROWS // chunk)
    rows = min(group * chunk, samples)
    pair = [_Draws(rows, n_features, *flags), _Draws(rows, n_features, *flags)]

    def fill(j: int) -> _Draws:  # group j: chunks j·group … (j + 1)·group − 1
        idx = range(j * group, min((j + 1) * group, n_chunks))
        return pair[j % 2].fill(rng, *(min(chunk, samples - i * chunk) for i in idx))

    def run(j: int, draws: _Draws) -> int:
        return kern(*draws.kernel_args(), *consts, j * group * chunk, power, hist, hmeta)

    n_groups, kept = -(-n_chunks // group), 0
    overlap = usable_cores() > 1
    draws = fill(0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        for j in range(n_groups):
            job = pool.submit(run, j, draws) if overlap else None
            if not overlap:
                kept += run(j, draws)
            nxt = fill(j + 1) if j + 1 < n_groups else None
            if overlap:
                kept += job.result()
            bar.update(draws.n)
            draws = nxt
    return kept


def monte_carlo(sparsity: float, samples: int, seed=0, weights=(1.0, 1.0), tie_rule: str = "drop",
                noise_rate: float = 0.0, noise_model: str = "flip", sigma: float = 0.0,
                n_features: int = 2, chunk: int = DEFAULT_CHUNK, regimes=REGIMES, threshold: bool = False,
                progress: bool | None = None, criteria=(), backend: str = "auto", features=None) -> dict:
    """Monte Carlo estimates for each regime in ``regimes`` (``mono``: ν_mono, ``poly``: ν_poly):
    ``{regime: {name: (estimate, se)}}``. (``features``: the old name of ``regimes``, deprecated.)

    Names: :data:`MOMENT_KEYS` (moments given the noisy label, and the fisher / unnormalized criteria), plus
    ``threshold_error`` when ``threshold=True``. Also ``n_draws`` and ``n_kept`` (draws minus dropped ties).
    ``seed``: int or ``numpy.random.Generator``. ``samples`` draws are made in chunks of ``chunk`` rows
    (the default stays in cache; the chunking fixes the order of the random numbers, so a seed and a chunk
    size give the same result on every rerun and on either backend, up to the order of floating-point sums).
    ``backend``: ``numba`` (a fused kernel; NumPy draws the next chunks on a second thread meanwhile),
    ``numpy`` (pure NumPy), ``auto`` (``numba`` when installed). ``progress``: a tqdm bar on stderr (None:
    only when stderr is a terminal and there are ≥ 10 chunks of ≥ 2^15 rows).
    ``criteria``: registered moment criteria (:mod:`monotheory.theory.registry`) to estimate as well.
    ``noise_model``: any registered model; one given only by a sampler draws the noisy labels itself
    (``sampler(y, noise_rate, rng)`` on each chunk's clean labels, from this run's generator; always on
    the NumPy path, whatever ``backend`` says, since the fused kernel flips labels from rates).
    """
    model = SpikeUniform(sparsity, n_features, tie_rule)
    samples = check_int("samples", samples, minimum=1)
    chunk = check_int("chunk", chunk, minimum=1)
    p10, p01 = transition_rates(noise_model, noise_rate)  # validates
    sampled = not (np.isfinite(p10) and np.isfinite(p01))  # sampler-only model: it draws the noisy labels
    if sampled:
        _check_sampler(noise_model, noise_rate)
        p10 = p01 = 0.0
    w1, w2 = check_weights(weights)
    sigma = check_nonnegative("sigma", sigma)
    if features is not None:
        warnings.warn("monte_carlo(features=...) is deprecated; use regimes=...", DeprecationWarning, stacklevel=2)
        regimes = features
    for f in regimes:
        check_choice("regime", f, REGIMES)
    criteria = tuple(c for c in criteria if c not in MOMENT_KEYS)
    for c in criteria:
        check_choice("criterion", c, registry.moment_criteria())
    kern = _backend(backend)
    rng = as_generator(seed)
    relabel = _relabel(noise_model, noise_rate, rng) if sampled else None
    if sampled:
        kern = None  # the fused kernel draws flips from rates: a sampler runs on the NumPy path
    chunk = min(chunk, samples)
    power = np.zeros((2, 2, 5))
    binning = {f: _bins(f, weights, sigma) for f in REGIMES}
    size = max(kmax - kmin + 1 for _, kmin, kmax in binning.values())  # one shape for both features
    hmeta = np.array([[binning[f][0], binning[f][1]] for f in REGIMES], dtype=np.float64)
    hist = np.zeros((2, N_BATCHES, 2, 2, size) if threshold else (2, 1, 2, 2, 1), dtype=np.int64)
    tie_code = mc_kernel.TIE_CODES[model.tie_rule]
    flags = (tie_code == 3, noise_rate > 0 and not sampled, sigma > 0)
    n_chunks = -(-samples // chunk)
    if progress is None:
        progress = n_chunks >= 10 and samples >= 10 * 2**15 and sys.stderr.isatty()
    from tqdm import tqdm  # lazy: keeps `import monotheory.theory` light

    consts = (model.sparsity, tie_code, p10 if flags[1] else 0.0, p01 if flags[1] else 0.0, sigma, w1, w2)
    def size(i: int) -> int:  # rows of chunk i (no list of sizes: memory stays flat at 10^9 samples)
        return min(chunk, samples - i * chunk)

    kept_total = 0
    with tqdm(total=samples, unit="sample", unit_scale=True, disable=not progress, **tqdm_kwargs(),
              desc="monte carlo") as bar:
        if kern is None:
            draws, buf = _Draws(chunk, n_features, *flags), mc_kernel.Buffers(chunk, n_features, threshold)
            for i, n in ((i, size(i)) for i in range(n_chunks)):
                u, coin, flip, gauss = draws.fill(rng, n).args()
                kept_total += mc_kernel.chunk_numpy(u, coin, flip, gauss, *consts, i * chunk, power,
                                                    hist if threshold else None, hmeta, buf, relabel)
                bar.update(n)
        else:
            kept_total = _kernel_loop(kern, rng, samples, chunk, n_features, flags, consts, power,
                                      hist if threshold else None, hmeta, bar)
    out = {"n_draws": samples, "n_kept": kept_total}
    for fi, f in enumerate(REGIMES):
        if f not in regimes:
            continue
        res = delta_method(power[fi], samples, criteria)
        if threshold:
            res["threshold_error"] = threshold_estimate(hist[fi])
            res["bin_width"] = (binning[f][0], 0.0)
        out[f] = res
    return out


def monte_carlo_moments(regime: str | None = None, sparsity: float | None = None, samples: int | None = None, seed=0,
                        chunk: int = DEFAULT_CHUNK, **kw) -> dict:
    """``{name: (estimate, se)}`` for one regime (``mono`` or ``poly``); keywords as :func:`monte_carlo`
    (``feature_name``: the old name of ``regime``, deprecated)."""
    if "feature_name" in kw:
        warnings.warn("monte_carlo_moments(feature_name=...) is deprecated; use regime=...", DeprecationWarning,
                      stacklevel=2)
        regime = kw.pop("feature_name")
    if sparsity is None or samples is None:
        raise ConfigError("monte_carlo_moments needs regime, sparsity and samples")
    check_choice("regime", regime, REGIMES)
    return monte_carlo(sparsity, samples, seed, chunk=chunk, regimes=(regime,), **kw)[regime]
