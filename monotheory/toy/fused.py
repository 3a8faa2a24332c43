"""Fused CPU kernels for the elementwise stages of a toy-model training step (optional: Numba, extra ``fast``).

A step of :meth:`monotheory.toy.model.ToyModel.loss_and_grads` is five batched matrix products with three
elementwise stages between them. In eager torch each stage is 3–8 passes over the (I, batch, n) or
(I, batch, m) tensors (maximum, top-k by repeated max, clamp, subtract, threshold_backward, sum, sign, …), and
on a CPU those passes, not the products, set the speed. Here each stage is one pass, in place:

* :func:`code` — h → a: ReLU for the per-unit codes, then top-k where asked (the same k-th-largest rule as
  :func:`monotheory.toy.model._kth_largest`);
* :func:`output_grad` — z = aW + b → G = (ReLU(z) − x) ⊙ 1[z > 0] and its sum over the batch (the loss
  weights (2/B)·I are folded into the small tensors afterwards, as in the torch form) and, when asked, the
  loss Σ I (ReLU(z) − x)² / B;
* the features of a chunk of instances from their seeds' uniforms (gather and spike-and-uniform in one pass);
* :func:`hidden_grad` — ∂L/∂a → ∂L/∂h: + (λ/B)·sign(a) for the L1 code, then zero where a per-unit code
  stopped the gradient (a = 0); and, when asked, Σ|a| for the L1 term of the loss.

Sums over the batch run row by row into per-feature accumulators (no reassociation across rows), so an
instance's numbers do not depend on which other instances share the call. The kernels release the GIL.
:func:`available` is False without Numba; the model then uses its torch form.
"""

from __future__ import annotations

import numpy as np

_KERNELS = None


def _code_source(h, relu, topk, k):  # pragma: no cover - compiled by Numba (tested against the torch form)
    c, B, m = h.shape
    zero = np.float32(0.0)
    for i in range(c):
        if relu[i]:  # flat loops vectorise; rows of m = 20 would leave a scalar tail per row
            hf = h[i].reshape(B * m)
            for j in range(B * m):
                hf[j] = max(hf[j], zero)
        if not (topk[i] and k < m):
            continue
        for b in range(B):
            row = h[i, b]
            if k <= 4:  # k-th distinct largest: k − 1 removals of the current maximum (the torch rule)
                prev = np.float32(np.inf)
                kth = np.float32(-np.inf)
                for _ in range(k):
                    kth = np.float32(-np.inf)
                    for j in range(m):
                        if row[j] < prev and row[j] > kth:
                            kth = row[j]
                    prev = kth
            else:  # torch.topk's k-th value (ties counted)
                kth = np.sort(row)[m - k]
            for j in range(m):
                if row[j] < kth:
                    row[j] = zero


def _output_grad_source(z, x, importance, gb, loss, with_loss):  # pragma: no cover - compiled by Numba
    c, B, n = z.shape
    zero = np.float32(0.0)
    accb = np.empty(n, dtype=np.float32)
    accl = np.empty(n, dtype=np.float32)
    for i in range(c):
        accb[:] = 0.0
        if with_loss:  # per feature (importance-weighted), on logging steps only
            accl[:] = 0.0
            for b in range(B):
                zr, xr = z[i, b], x[i, b]
                for j in range(n):
                    d = max(zr[j], zero) - xr[j]
                    accl[j] += d * d
            loss[i] = np.sum(accl.astype(np.float64) * importance) / B
        for b in range(B):
            zr, xr = z[i, b], x[i, b]
            for j in range(n):
                zz = zr[j]
                g = zz - xr[j] if zz > 0 else zero
                zr[j] = g
                accb[j] += g
        gb[i, :] = accb


def _hidden_grad_source(da, a, relu, l1_over_b, l1_sum, with_loss):  # pragma: no cover - compiled by Numba
    c, B, m = da.shape
    zero = np.float32(0.0)
    acc = np.empty(m, dtype=np.float32)
    for i in range(c):
        lam = np.float32(l1_over_b[i])
        g, ai = da[i].reshape(B * m), a[i].reshape(B * m)
        if lam != 0.0:  # the L1 code is a ReLU code: a ≥ 0, sign(a) = 1[a > 0]
            for j in range(B * m):
                g[j] = g[j] + lam if ai[j] > 0 else zero
        elif relu[i]:
            for j in range(B * m):
                g[j] = g[j] if ai[j] > 0 else zero
        l1_sum[i] = 0.0
        if with_loss and lam != 0.0:
            acc[:] = 0.0
            for b in range(B):
                for j in range(m):
                    acc[j] += abs(ai[b * m + j])
            l1_sum[i] = np.sum(acc.astype(np.float64))


def _spike_source(u, rows, inv, neg, out):  # pragma: no cover - compiled by Numba
    c, B, n = out.shape
    for i in range(c):
        src, dst = u[rows[i]].reshape(B * n), out[i].reshape(B * n)
        a, z = inv[i], neg[i]
        for j in range(B * n):
            dst[j] = max(src[j] * a + z, np.float32(0.0))


def kernels():
    """(code, output_grad, hidden_grad, spike) compiled by Numba (cached on disk), or None without Numba."""
    global _KERNELS
    if _KERNELS is None:
        try:
            import numba
        except ImportError:
            return None
        jit = numba.njit(nogil=True, cache=True)
        _KERNELS = (jit(_code_source), jit(_output_grad_source), jit(_hidden_grad_source), jit(_spike_source))
    return _KERNELS


def available() -> bool:
    """True when Numba is installed (the fused step can run on CPU tensors)."""
    return kernels() is not None
