"""The per-chunk work of :func:`monotheory.theory.montecarlo.monte_carlo`, in two interchangeable forms.

Both consume the same random numbers, drawn by NumPy per chunk in this order (so the two paths give the
same estimates up to the order of floating-point sums, and a seed gives the same result on every rerun):

* ``u`` (n, d): one uniform per feature; x = 0 if u < S else (u − S)/(1 − S) (zero with probability S, else
  U[0, 1)), computed as max((u − S)/(1 − S), 0);
* ``coin`` (n,) only for ``tie_rule="random"``: the all-zero tie gets label 1 iff coin < 1/2;
* ``flip_u`` (n,) only with label noise: ỹ = 1 − y iff flip_u < P(flip | y);
* a registered sampler-only noise model (no rates) draws ỹ itself, from the same generator right after the
  chunk's draws (NumPy path only: ``relabel`` of :func:`chunk_numpy`);
* ``gauss`` (n, 2) only with input noise: x1, x2 += λ·gauss after labelling (the features read x1, x2 only,
  so noise on x3… would change nothing and is not drawn).

Outputs are added into ``power[f, c, k]`` = Σ ν_f^k·1{ỹ = c} (k = 0..4; f = 0 mono, 1 poly) and, with
``threshold``, into ``hist[f, batch, y, ỹ, bin]`` (int64; batch = global row index mod N_BATCHES).

:func:`chunk_numpy` is vectorised NumPy with reused buffers (no per-chunk temporaries beyond small masks);
the Numba kernel (:func:`kernel`) is one fused loop over a run of consecutive chunks (``nogil``, so NumPy can
draw the next run on another thread while it runs), compiled once per pattern of unused draws (passed as
None). Numba is optional (extra ``fast``); :func:`kernel` returns None when it is missing.
"""

from __future__ import annotations

import numpy as np

TIE_CODES = {"drop": 0, "class0": 1, "class1": 2, "random": 3}


class Buffers:
    """Reusable per-chunk arrays for :func:`chunk_numpy` (allocated once per run: memory stays flat)."""

    def __init__(self, n: int, d: int, threshold: bool):
        self.rest, self.tmp = np.empty(n), np.empty(n)
        self.w = np.empty((2, n))  # class weights 1{ỹ=0}, 1{ỹ=1}
        self.p = np.empty((9, n))  # 1, ν_mono^1..4, ν_poly^1..4
        self.p[0] = 1.0
        self.y1 = np.empty(n, dtype=bool)
        self.ny = np.empty(n, dtype=bool)
        self.drop = np.empty(n, dtype=bool)
        self.idx = np.empty(n, dtype=np.int64) if threshold else None


def chunk_numpy(u, coin, flip_u, gauss, s, tie_code, p10, p01, sigma, w1, w2, start, power, hist, hmeta,
                buf: Buffers, relabel=None) -> int:
    """NumPy form of one chunk (see the module doc); returns the number of kept (not dropped) rows.

    ``relabel(y1) -> ỹ`` (bool array in, bool array of the same shape out), when given, replaces the label
    flips: the hook through which a registered sampler-only noise model draws the noisy labels."""
    n, d = u.shape
    # features up to the factor 1/(1 − S), in place: the labels (argmax, all-zero tie) do not see the scale, so
    # it is applied only to the two columns the features read, on their way into p below
    u -= s
    np.maximum(u, 0.0, out=u)
    inv = 1.0 / (1.0 - s)
    rest, tmp = buf.rest[:n], buf.tmp[:n]
    x0 = u[:, 0]
    if d == 2:
        rest = u[:, 1]
    else:
        np.max(u[:, 1:], axis=1, out=rest)
    y1, ny, drop = buf.y1[:n], buf.ny[:n], buf.drop[:n]
    np.greater(x0, rest, out=y1)
    np.add(x0, rest, out=tmp)
    np.equal(tmp, 0.0, out=drop)  # the all-zero tie (features are ≥ 0)
    if tie_code == 2:
        y1 |= drop
    elif tie_code == 3:
        y1 |= drop & (coin < 0.5)
    if tie_code != 0:
        drop[:] = False
    if relabel is not None:
        np.copyto(ny, relabel(y1))
    elif flip_u is not None:  # flip iff flip_u < (p10 if y = 1 else p01)
        np.multiply(y1, p10 - p01, out=tmp)
        tmp += p01
        np.less(flip_u, tmp, out=ny)
        np.logical_xor(ny, y1, out=ny)
    else:
        np.copyto(ny, y1)
    w = buf.w[:, :n]
    np.logical_and(ny, ~drop, out=w[1], casting="unsafe")
    np.logical_or(ny, drop, out=w[0], casting="unsafe")
    np.subtract(1.0, w[0], out=w[0])
    p = buf.p[:, :n]
    np.multiply(x0, inv, out=p[1])                                      # x1 (feature 1), scaled
    np.multiply(u[:, 1], inv, out=tmp)                                  # x2, scaled
    if gauss is not None:  # input noise after labelling
        p[1] += sigma * gauss[:, 0]
        tmp += sigma * gauss[:, 1]
    x0 = p[1]
    np.multiply(tmp, -w2, out=p[5])
    p[5] += w1 * x0 if w1 != 1.0 else x0
    for f in (1, 5):  # ν², ν³, ν⁴ in place
        np.multiply(p[f], p[f], out=p[f + 1])
        np.multiply(p[f + 1], p[f], out=p[f + 2])
        np.multiply(p[f + 1], p[f + 1], out=p[f + 3])
    sums = w @ p.T  # (2, 9): one BLAS pass for every moment of both features
    power[:, :, 0] += sums[:, 0]
    power[0, :, 1:] += sums[:, 1:5]
    power[1, :, 1:] += sums[:, 5:9]
    if hist is not None:
        n_batches, size = hist.shape[1], hist.shape[4]
        y = y1.view(np.int8).astype(np.int64)
        base = (((start + np.arange(n)) % n_batches) * 2 + y) * 2 + ny.view(np.int8)
        for f, row in ((0, 1), (1, 5)):
            h, kmin = hmeta[f, 0], int(hmeta[f, 1])
            idx = buf.idx[:n]
            np.divide(p[row], h, out=tmp)
            np.ceil(tmp, out=tmp)
            np.clip(tmp, kmin, kmin + size - 1, out=tmp)
            np.subtract(tmp, kmin, out=idx, casting="unsafe")
            cell = base * size + idx
            cell[drop] = hist[f].size  # a spare cell, discarded below
            hist[f] += np.bincount(cell, minlength=hist[f].size + 1)[:-1].reshape(hist[f].shape)
    return n - int(np.count_nonzero(drop))


def _kernel_source(u, rest, coin, flip_u, gauss, s, tie_code, p10, p01, sigma, w1, w2, start, power, hist,
                   hmeta):  # pragma: no cover - compiled by Numba (the NumPy form is tested against it)
    """One chunk in one fused loop, branch-free per row so that LLVM vectorises it (sums reassociated).

    ``u``: the chunk's uniforms of features 1 and 2 as a flat, C-ordered (n, 2) array (row i at ``u[2i]``,
    ``u[2i + 1]``: flat indexing with a constant stride vectorises; 2-d indexing of the same memory ran 3.4×
    slower, a run-time stride 1.7×); ``rest``: None for two features (then max x[:, 1:] is x1), else the
    per-row max of u[:, 1:] (x is non-decreasing in u). ``coin``, ``flip_u`` (n,), ``gauss``
    (flat (n, 2)) and ``hist`` are None when a setting does not use them: Numba compiles one specialisation
    per pattern of Nones and prunes the dead branches, so unused draws cost nothing in the loop.
    """
    n = u.shape[0] // 2
    inv = 1.0 / (1.0 - s)
    one_tie = 1.0 if tie_code == 2 else 0.0
    coin_tie = 1.0 if tie_code == 3 else 0.0
    keep_tie = 0.0 if tie_code == 0 else 1.0
    dflip = p10 - p01
    kept = 0.0
    c1 = 0.0
    a01 = a02 = a03 = a04 = a11 = a12 = a13 = a14 = 0.0  # mono, class 0 / 1, powers 1..4
    b01 = b02 = b03 = b04 = b11 = b12 = b13 = b14 = 0.0  # poly
    for i in range(n):
        x0 = max((u[2 * i] - s) * inv, 0.0)
        x1 = max((u[2 * i + 1] - s) * inv, 0.0)
        if rest is None:
            r = x1
        else:
            r = max((rest[i] - s) * inv, 0.0)
        tie = 1.0 if x0 + r == 0.0 else 0.0  # the all-zero tie
        y = 1.0 if x0 > r else 0.0
        if coin is not None:
            y = max(y, tie * (one_tie + coin_tie * (1.0 if coin[i] < 0.5 else 0.0)))
        else:
            y = max(y, tie * one_tie)
        if flip_u is not None:
            flip = 1.0 if flip_u[i] < p01 + dflip * y else 0.0
            q1 = y + flip - 2.0 * y * flip  # ỹ = y xor flip, as weights: no branch on a coin flip
        else:
            q1 = y
        keep = 1.0 - tie * (1.0 - keep_tie)
        q1 = q1 * keep
        q0 = keep - q1
        if gauss is not None:
            x0 = x0 + sigma * gauss[2 * i]
            x1 = x1 + sigma * gauss[2 * i + 1]
        m2 = x0 * x0
        v1 = w1 * x0 - w2 * x1
        v2 = v1 * v1
        kept += keep
        c1 += q1
        a01 += q0 * x0
        a02 += q0 * m2
        a03 += q0 * (m2 * x0)
        a04 += q0 * (m2 * m2)
        a11 += q1 * x0
        a12 += q1 * m2
        a13 += q1 * (m2 * x0)
        a14 += q1 * (m2 * m2)
        b01 += q0 * v1
        b02 += q0 * v2
        b03 += q0 * (v2 * v1)
        b04 += q0 * (v2 * v2)
        b11 += q1 * v1
        b12 += q1 * v2
        b13 += q1 * (v2 * v1)
        b14 += q1 * (v2 * v2)
    if hist is not None:  # a second pass: scattered increments would stop the first loop from vectorising
        n_batches, size = hist.shape[1], hist.shape[4]
        h0, h1 = hmeta[0, 0], hmeta[1, 0]
        k0, k1 = hmeta[0, 1], hmeta[1, 1]
        b = start % n_batches  # batch of row i = (start + i) mod n_batches, as a wrapping counter
        for i in range(n):
            x0 = max((u[2 * i] - s) * inv, 0.0)
            x1 = max((u[2 * i + 1] - s) * inv, 0.0)
            r = x1 if rest is None else max((rest[i] - s) * inv, 0.0)
            tie = x0 + r == 0.0
            if not (tie and tie_code == 0):
                y = 1 if x0 > r else 0
                if tie and (tie_code == 2 or (tie_code == 3 and coin is not None and coin[i] < 0.5)):
                    y = 1
                ny = y
                if flip_u is not None:
                    ny = 1 - y if flip_u[i] < (p10 if y == 1 else p01) else y
                if gauss is not None:
                    x0 = x0 + sigma * gauss[2 * i]
                    x1 = x1 + sigma * gauss[2 * i + 1]
                j0 = min(max(np.ceil(x0 / h0), k0), k0 + size - 1) - k0
                j1 = min(max(np.ceil((w1 * x0 - w2 * x1) / h1), k1), k1 + size - 1) - k1
                hist[0, b, y, ny, int(j0)] += 1
                hist[1, b, y, ny, int(j1)] += 1
            b += 1
            if b == n_batches:
                b = 0
    c0 = kept - c1
    power[0, 0, 0] += c0
    power[0, 1, 0] += c1
    power[1, 0, 0] += c0
    power[1, 1, 0] += c1
    power[0, 0, 1] += a01
    power[0, 0, 2] += a02
    power[0, 0, 3] += a03
    power[0, 0, 4] += a04
    power[0, 1, 1] += a11
    power[0, 1, 2] += a12
    power[0, 1, 3] += a13
    power[0, 1, 4] += a14
    power[1, 0, 1] += b01
    power[1, 0, 2] += b02
    power[1, 0, 3] += b03
    power[1, 0, 4] += b04
    power[1, 1, 1] += b11
    power[1, 1, 2] += b12
    power[1, 1, 3] += b13
    power[1, 1, 4] += b14
    return int(round(kept))


_COMPILED = None
# reassociated sums (vector lanes) and fused multiply-adds; no flags that assume away NaN or infinity
_FASTMATH = {"reassoc", "contract"}


def kernel():
    """The Numba-compiled kernel (arguments: see ``_kernel_source``) (cached on disk), or None when Numba is not installed."""
    global _COMPILED
    if _COMPILED is None:
        try:
            import numba
        except ImportError:
            return None
        _COMPILED = numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)(_kernel_source)
    return _COMPILED
