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

import numpy as np

from monotheory.config import check_choice, check_int
from monotheory.theory.datamodel import (
    FEATURES,
    SpikeUniform,
    add_input_noise,
    as_generator,
    check_weights,
    feature,
    noisy_labels,
    transition_rates,
)

MOMENT_KEYS = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1", "fisher", "unnormalized")
DEFAULT_CHUNK = 1 << 20
N_BINS = 4096
N_BATCHES = 20


def _functions(m: np.ndarray) -> np.ndarray:
    """The estimands from the 6 means (E[1_0], E[ν1_0], E[ν²1_0], E[1_1], E[ν1_1], E[ν²1_1])."""
    n0, s0, q0, n1, s1, q1 = m
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty class gives NaN, reported as such
        mu0, mu1 = s0 / n0, s1 / n1
        var0, var1 = q0 / n0 - mu0**2, q1 / n1 - mu1**2
        d = mu1 - mu0
        return np.array([n0 / (n0 + n1), n1 / (n0 + n1), mu0, mu1, d, var0, var1, d * d / (var0 + var1),
                         d / (var0 + var1)])


def delta_method(power: np.ndarray, n_draws: int) -> dict:
    """Estimates and delta-method SEs from power sums ``power[c, k]`` = Σ ν^k 1{ỹ=c}, k = 0..4."""
    e = power / n_draws  # E[ν^k 1_c]
    m = np.concatenate([e[0, :3], e[1, :3]])
    second = np.zeros((6, 6))
    for c in (0, 1):
        for a in range(3):
            for b in range(3):
                second[3 * c + a, 3 * c + b] = e[c, a + b]  # cross-class products vanish
    cov = second - np.outer(m, m)
    est = _functions(m)
    grad = np.zeros((len(est), 6))
    for i in range(6):
        step = 1e-6 * max(abs(m[i]), 1e-4)
        hi, lo = m.copy(), m.copy()
        hi[i] += step
        lo[i] -= step
        grad[:, i] = (_functions(hi) - _functions(lo)) / (2 * step)
    se = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", grad, cov, grad), 0.0) / n_draws)
    return {k: (float(est[i]), float(se[i])) for i, k in enumerate(MOMENT_KEYS)}


def _bins(name: str, weights, input_sigma: float) -> tuple[float, int, int]:
    """Bin width h and index range: bin k holds ((k−1)h, kh], so a cut at an edge kh separates exactly."""
    a, b = check_weights(weights)
    lo, hi, scale = (0.0, 1.0, 1.0) if name == "mono" else (-b, a, float(np.hypot(a, b)))
    pad = 5 * input_sigma * scale
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


def monte_carlo(sparsity: float, samples: int, seed=0, weights=(1.0, 1.0), tie_rule: str = "drop",
                noise_rate: float = 0.0, noise_model: str = "flip", input_sigma: float = 0.0,
                n_features: int = 2, chunk: int = DEFAULT_CHUNK, features=FEATURES, threshold: bool = False,
                progress: bool | None = None) -> dict:
    """Monte Carlo estimates for each feature in ``features``: ``{feature: {name: (estimate, se)}}``.

    Names: :data:`MOMENT_KEYS` (moments given the noisy label, and the fisher / unnormalized criteria), plus
    ``threshold_error`` when ``threshold=True``. Also ``n_draws`` and ``n_kept`` (draws minus dropped ties).
    ``seed``: int or ``numpy.random.Generator``. ``samples`` draws are made in chunks of ``chunk`` rows;
    ``progress``: a tqdm bar on stderr (None: only when stderr is a terminal and there are ≥ 10 chunks).
    """
    model = SpikeUniform(sparsity, n_features, tie_rule)
    samples = check_int("samples", samples, minimum=1)
    chunk = check_int("chunk", chunk, minimum=1)
    transition_rates(noise_model, noise_rate)  # validates
    check_weights(weights)
    for f in features:
        check_choice("feature", f, FEATURES)
    rng = as_generator(seed)
    power = {f: np.zeros((2, 5)) for f in features}
    binning = {f: _bins(f, weights, input_sigma) for f in features}
    hist = {f: np.zeros((N_BATCHES, 2, 2, binning[f][2] - binning[f][1] + 1)) for f in features}
    n_chunks = -(-samples // chunk)
    if progress is None:
        progress = n_chunks >= 10 and sys.stderr.isatty()
    from tqdm import tqdm  # lazy: keeps `import monotheory.theory` light

    from monotheory.progress import tqdm_kwargs  # a line every 25 s in a log (issue 11)

    kept_total = 0
    with tqdm(total=samples, unit="sample", unit_scale=True, disable=not progress, **tqdm_kwargs(),
              desc="monte carlo") as bar:
        for start in range(0, samples, chunk):
            n = min(chunk, samples - start)
            x = model.sample_features(n, rng)
            y = model.labels(x, rng)  # −1 marks a dropped tie: it keeps its row but gets weight 0
            dropped = y < 0
            kept_total += n - int(dropped.sum())
            ny = noisy_labels(np.maximum(y, 0), noise_model, noise_rate, rng) if noise_rate > 0 else y.copy()
            ny[dropped] = -1
            xn = add_input_noise(x, input_sigma, rng)
            w1, w0 = (ny == 1).astype(np.float64), (ny == 0).astype(np.float64)
            n1, n0 = w1.sum(), w0.sum()
            for f in features:
                nu = np.ascontiguousarray(feature(f, xn, weights))
                nu2 = nu * nu
                power[f][:, 0] += (n0, n1)
                for k, v in enumerate((nu, nu2, nu2 * nu, nu2 * nu2), start=1):
                    # einsum: a masked sum in one pass, far faster than v[mask].sum() or bincount
                    power[f][:, k] += (np.einsum("i,i->", v, w0), np.einsum("i,i->", v, w1))
                if threshold:
                    h, kmin, kmax = binning[f]
                    size = kmax - kmin + 1
                    idx = np.clip(np.ceil(nu / h), kmin, kmax).astype(np.int64) - kmin
                    batch = (start + np.arange(n)) % N_BATCHES  # interleaved batches for the SE
                    cell = ((batch * 2 + np.maximum(y, 0)) * 2 + np.maximum(ny, 0)) * size + idx
                    cell[dropped] = N_BATCHES * 4 * size  # a spare cell, discarded below
                    counts = np.bincount(cell, minlength=N_BATCHES * 4 * size + 1)[:-1]
                    hist[f] += counts.reshape(hist[f].shape)
            bar.update(n)
    out = {"n_draws": samples, "n_kept": kept_total}
    for f in features:
        res = delta_method(power[f], samples)
        if threshold:
            res["threshold_error"] = threshold_estimate(hist[f])
            res["bin_width"] = (binning[f][0], 0.0)
        out[f] = res
    return out


def monte_carlo_moments(feature_name: str, sparsity: float, samples: int, seed=0, chunk: int = DEFAULT_CHUNK,
                        **kw) -> dict:
    """``{name: (estimate, se)}`` for one feature (``mono`` or ``poly``); keywords as :func:`monte_carlo`."""
    return monte_carlo(sparsity, samples, seed, chunk=chunk, features=(feature_name,), **kw)[feature_name]
