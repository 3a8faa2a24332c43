"""Batched L-BFGS: many independent problems minimised at once, each with its own history and line search.

:func:`batched_lbfgs` is generic (any smooth per-instance function, gradients by autograd).
:func:`softmax_lbfgs` is the same algorithm specialised to multinomial logistic regression: one matrix
product gives the trial logits (A + tQ)X̃ᵀ, one exp of them gives both the value and, with one more product,
the gradient at the accepted point. Two batched matrix products and one exp per iteration when the first
trial is accepted, no autograd graph, no per-instance Python work.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from monotheory.errors import ConfigError


def _armijo(values, f0, t, slope):
    """Sufficient decrease f(θ + t·q) ≤ f(θ) + c₁·t·gᵀq with c₁ = 1e-4, tested as f(θ + t·q) − f(θ) ≤ c₁·t·gᵀq:
    f(θ) + c₁·t·gᵀq rounds to f(θ) when the required decrease is below half an ulp of f (3e-8 nats at f ≈ 3 in
    float32), which accepted steps that changed nothing and ended float32 fits early."""
    return values - f0 <= 1e-4 * t * slope


def _two_loop(g, S, Y, rho, tiny):
    """L-BFGS direction −H·g per instance (rows of g), from histories S, Y (lists of (I, P)) and rho (I,)."""
    q, alphas = -g, []
    for s_, y_, r_ in zip(reversed(S), reversed(Y), reversed(rho), strict=True):
        a = r_ * (s_ * q).sum(1)
        q = q - a[:, None] * y_
        alphas.append(a)
    if S:
        sy, yy = (S[-1] * Y[-1]).sum(1), (Y[-1] * Y[-1]).sum(1)
        q = torch.where(rho[-1] > 0, sy / yy.clamp_min(tiny), 1.0)[:, None] * q
    for s_, y_, r_, a in zip(S, Y, rho, reversed(alphas), strict=True):
        q = q + s_ * (a - r_ * (y_ * q).sum(1))[:, None]
    slope = (g * q).sum(1)
    bad = slope >= 0  # not a descent direction: fall back to steepest descent
    return torch.where(bad[:, None], -g, q), torch.where(bad, -(g * g).sum(1), slope)


def _push(S, Y, rho, step, y_vec, keep, history_size):
    sy = (step * y_vec).sum(1)
    keep = keep & (sy > 1e-10 * (y_vec * y_vec).sum(1).sqrt() * step.norm(dim=1))
    S.append(step)
    Y.append(y_vec)
    rho.append(torch.where(keep, 1.0 / torch.where(keep, sy, 1.0), 0.0))
    if len(S) > history_size:
        S.pop(0), Y.pop(0), rho.pop(0)


def batched_lbfgs(fun, theta: torch.Tensor, *, max_iter: int = 500, tol: float = 1e-6, lr: float = 1.0,
                  history_size: int = 10, max_backtracks: int = 30,
                  progress: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Minimise I independent smooth functions at once with per-instance L-BFGS.

    ``fun(rows, idx)`` gets parameter rows (k, P) of the instances ``idx`` (a LongTensor of k indices) and
    returns their values (k,); instance i may depend only on its own row. Each instance has its own curvature
    history (two-loop recursion), its own step length (backtracking Armijo line search, sufficient-decrease
    constant 1e-4, halving) and its own stopping rule (max |gradient| ≤ ``tol``, a relative change of the value
    below 10·eps of the dtype, or no acceptable step), so the iterates of one instance are those of a lone
    L-BFGS run: nothing is shared but the tensor operations. Only the instances still running (and, while
    backtracking, only the rejecting ones) are evaluated. Trial steps start at t = ``lr``, the first one
    scaled like torch's L-BFGS (t = lr·min(1, 1/‖g‖₁)). Returns (theta, iterations per instance).
    """
    inst = theta.shape[0]
    theta = theta.detach().clone()
    rtol, tiny = 10 * torch.finfo(theta.dtype).eps, torch.finfo(theta.dtype).tiny

    def value_and_grad(rows, idx):
        rows = rows.detach().requires_grad_(True)
        f = fun(rows, idx)
        (g,) = torch.autograd.grad(f.sum(), rows)
        return f.detach(), g

    f, g = value_and_grad(theta, torch.arange(inst, device=theta.device))
    S, Y, rho = [], [], []                          # histories: (I, P), (I, P), (I,); rho = 0 marks "no pair"
    active = g.abs().amax(1) > tol
    iters = torch.zeros(inst, dtype=torch.long, device=theta.device)
    for k in tqdm(range(max_iter), disable=not progress, desc="batched L-BFGS"):
        act = active.nonzero().squeeze(1)
        if act.numel() == 0:
            break
        q, slope = _two_loop(g, S, Y, rho, tiny)
        t = torch.full((inst,), lr, dtype=theta.dtype, device=theta.device)
        if k == 0:
            t = lr * torch.clamp(1.0 / g.abs().sum(1).clamp_min(1e-30), max=1.0)
        t = torch.where(active, t, 0.0)

        # first trial, with gradients, on the running instances
        f_new, g_new = f.clone(), g.clone()
        f_new[act], g_new[act] = value_and_grad(theta[act] + t[act, None] * q[act], act)
        pending = act[~_armijo(f_new[act], f[act], t[act], slope[act])]
        backtracked = pending
        for _ in range(max_backtracks):             # halve t of the rejecting instances only; no gradients
            if pending.numel() == 0:
                break
            t[pending] = t[pending] / 2
            with torch.no_grad():
                trial = fun(theta[pending] + t[pending, None] * q[pending], pending)
            pending = pending[~_armijo(trial, f[pending], t[pending], slope[pending])]
        stuck = torch.zeros(inst, dtype=torch.bool, device=theta.device)
        stuck[pending] = True                       # no acceptable step: this instance is done
        t = torch.where(stuck, 0.0, t)
        step = t[:, None] * q
        theta_new = theta + step
        moved = backtracked[~stuck[backtracked]]
        if moved.numel():                           # their accepted point is not the first trial
            f_new[moved], g_new[moved] = value_and_grad(theta_new[moved], moved)
        f_new[pending], g_new[pending] = f[pending], g[pending]
        _push(S, Y, rho, step, g_new - g, active & ~stuck, history_size)
        iters += active.long()
        small_change = (f - f_new).abs() <= rtol * torch.maximum(f.abs(), torch.ones_like(f))
        theta, f, g = theta_new, f_new, g_new
        active = active & ~stuck & (g.abs().amax(1) > tol) & ~small_change
    return theta, iters.cpu().numpy()


_NO_SHIFT_BOUND = 64.0  # logits bounded by this in absolute value are exponentiated without the max shift
BLOCK_ELEMENTS = 1 << 21  # logits per block of instances (8 MiB in float32): a few such tensors stay in L2+L3


def softmax_lbfgs(X: torch.Tensor, y: torch.Tensor, num_classes: int, *, weight_decay: float = 0.0,
                  max_iter: int = 500, tol: float = 1e-6, lr: float = 1.0, history_size: int = 10,
                  max_backtracks: int = 30, progress: bool = False, block: int | None = None,
                  tol_change: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """I multinomial logistic regressions by per-instance L-BFGS: X (I, N, d), y (I, N) → (W, b, iterations).

    The instances are independent, so they are solved ``block`` at a time (default: as many as keep the
    (block, N, C) logits within :data:`BLOCK_ELEMENTS`): on a CPU every step is bound by passes over those
    tensors. On the Figure 5 shapes (30 instances, N = 4096, C = 41; blocks of 12 by default) blocks of 6-12
    instances took 1.2-1.3 s, one block of 30 1.5-1.9 s and blocks of 3 1.5 s (2-core CPU, one thread).
    The result of an instance does not depend on the block size beyond floating-point rounding.

    Stopping rules per instance: max |gradient| ≤ ``tol``, no acceptable step, or a change of the value below
    ``tol_change`` (absolute), which is :class:`torch.optim.LBFGS`'s ``tolerance_change`` with the value that
    :class:`monotheory.probes.LinearProbe` uses (1e-12), so a batched fit stops where a loop of LinearProbe
    fits would. (:func:`batched_lbfgs`'s relative rule, 10·eps of the dtype, stopped float32 fits while the
    gradient was still ~1e-3 after a step with little progress: a mean objective gap of ~2e-4 nats on the
    Figure 5 shapes at 100 iterations, against ~2e-5 with this rule.)
    """
    if not (isinstance(tol_change, (int, float)) and tol_change >= 0):  # inf allowed: stop after one step
        raise ConfigError(f"tol_change = {tol_change!r}; allowed: a number ≥ 0 (inf included)")
    inst, n, _ = X.shape
    size = block or max(1, BLOCK_ELEMENTS // max(1, n * num_classes))
    kw = dict(weight_decay=weight_decay, max_iter=max_iter, tol=tol, lr=lr, history_size=history_size,
              max_backtracks=max_backtracks, progress=progress, tol_change=tol_change)
    if size >= inst:
        return _softmax_lbfgs_block(X, y, num_classes, **kw)
    parts = [_softmax_lbfgs_block(X[k:k + size], y[k:k + size], num_classes, **kw) for k in range(0, inst, size)]
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _softmax_lbfgs_block(X: torch.Tensor, y: torch.Tensor, num_classes: int, *, weight_decay: float = 0.0,
                         max_iter: int = 500, tol: float = 1e-6, lr: float = 1.0, history_size: int = 10,
                         max_backtracks: int = 30, progress: bool = False, tol_change: float = 1e-12):
    """:func:`softmax_lbfgs` on one block of instances, all in one set of batched tensors.

    Instance i minimises mean_n CE(W_i x_n + b_i, y_n) + (λ/2)‖W_i‖² (bias unpenalised; W starts at 0), with
    the algorithm of :func:`batched_lbfgs` (per-instance history, Armijo backtracking by halving, first step
    scaled like torch's) and the stopping rules of :func:`softmax_lbfgs`. Per iteration: one product for the
    trial logits (A + tQ)X̃ᵀ, laid out (k, C, N); one exp of them (shifted by the per-sample max only when
    the bound ‖A_c‖·max‖x̃‖ allows an overflow) and their sums s over the classes, which give the value from
    E[y]/s; one product for the gradient, E·diag(1/s)·X̃ minus the per-class sums of x̃ (fixed, computed once).
    A backtrack costs a product and an exp of the rejecting instances only. The working tensors hold the
    running instances only: an instance that stops is written out and dropped (its history with it), so
    every iteration runs on contiguous tensors without gathers and without work for finished instances.
    W is (I, C, d), b (I, C). The per-sample loss −log P[y] is floored at −log(tiny) (87 nats in float32):
    only far from any optimum.
    """
    inst, n, d = X.shape
    c, dev, dt = num_classes, X.device, X.dtype
    Xa = torch.cat([X, X.new_ones(inst, n, 1)], 2)                       # [x, 1]: bias as a last column
    yi = y * n + torch.arange(n, device=dev)                              # flat index of (y_s, s) in (C, N)
    csum = torch.zeros(inst, c, d + 1, dtype=dt, device=dev)             # Σ x̃_n over the samples of each class
    csum.scatter_add_(1, y.unsqueeze(2).expand(-1, -1, d + 1), Xa)
    mask = torch.ones(c, d + 1, dtype=dt, device=dev)
    mask[:, d] = 0.0                                                     # no penalty on the bias column
    lam = float(weight_decay)
    tiny = torch.finfo(dt).tiny
    radius = Xa.norm(dim=2).amax(1)                                      # max ‖x̃‖ per instance

    def value(E, s, yk, Ak):  # E: exp of the (shifted) logits, (k, C, N); s: its sums over classes, (k, N)
        ce = -torch.log(E.view(len(E), -1).gather(1, yk).div_(s).clamp_min(tiny)).mean(1)
        return ce + 0.5 * lam * ((Ak * mask) ** 2).sum((1, 2)) if lam else ce

    def grad(E, s, Ak, Xk, Ck):  # Σ_n (softmax_n − onehot_n) x̃_nᵀ / N = (E · diag(1/s) · X̃ − class sums) / N
        G = torch.bmm(E, Xk / s.unsqueeze(2)).sub_(Ck).div_(n)
        return (G + lam * Ak * mask).reshape(len(Ak), -1) if lam else G.reshape(len(Ak), -1)

    def probs(Ak, Xk, rk):  # unnormalised softmax over classes of the logits A X̃ᵀ, (k, C, N), and its sums
        L = torch.bmm(Ak, Xk.transpose(1, 2))  # classes-major: exp, max and sum run along N, in place
        if bool((Ak.norm(dim=2).amax(1) * rk <= _NO_SHIFT_BOUND).all()):
            L.exp_()  # |logit| ≤ ‖A_c‖·‖x̃‖ ≤ 64: no exp overflows and the sum is ≥ e⁻⁶⁴, so no shift is needed
        else:
            L.sub_(L.amax(1, keepdim=True)).exp_()
        return L, L.sum(1)

    A_out = torch.zeros(inst, c, d + 1, dtype=dt, device=dev)            # [W | b] of every instance
    iters_out = torch.zeros(inst, dtype=torch.long, device=dev)
    ids = torch.arange(inst, device=dev)                                 # instance of each working row
    A = A_out.clone()
    E, s = probs(A, Xa, radius)
    f = value(E, s, yi, A)
    g = grad(E, s, A, Xa, csum)
    S, Y, rho = [], [], []
    active = g.abs().amax(1) > tol
    iters = torch.zeros(inst, dtype=torch.long, device=dev)
    for k in tqdm(range(max_iter), disable=not progress, desc="softmax L-BFGS"):
        if not bool(active.all()):                                       # write out the stopped, drop them
            done = ~active
            A_out[ids[done]], iters_out[ids[done]] = A[done], iters[done]
            keep = active.nonzero().squeeze(1)
            ids, A, Xa, yi, radius, csum = (v[keep] for v in (ids, A, Xa, yi, radius, csum))
            f, g, iters = f[keep], g[keep], iters[keep]
            S, Y, rho = [v[keep] for v in S], [v[keep] for v in Y], [v[keep] for v in rho]
            active = active[keep]
            if keep.numel() == 0:
                break
        m = ids.numel()
        q, slope = _two_loop(g, S, Y, rho, tiny)
        t = torch.full((m,), lr, dtype=dt, device=dev)
        if k == 0:
            t = lr * torch.clamp(1.0 / g.abs().sum(1).clamp_min(1e-30), max=1.0)
        Q = q.view(m, c, d + 1)
        At = torch.addcmul(A, t[:, None, None], Q)                       # first trial, every running instance
        Et, st = probs(At, Xa, radius)
        f_try = value(Et, st, yi, At)
        pending = (~_armijo(f_try, f, t, slope)).nonzero().squeeze(1)
        for _ in range(max_backtracks):                                  # halve t of the rejecting ones only
            if pending.numel() == 0:
                break
            t[pending] = t[pending] / 2
            Ap = torch.addcmul(A[pending], t[pending][:, None, None], Q[pending])
            Ep, sp = probs(Ap, Xa[pending], radius[pending])
            At[pending], Et[pending], st[pending] = Ap, Ep, sp
            f_try[pending] = value(Ep, sp, yi[pending], Ap)
            pending = pending[~_armijo(f_try[pending], f[pending], t[pending], slope[pending])]
        g_new = grad(Et, st, At, Xa, csum)
        stuck = torch.zeros(m, dtype=torch.bool, device=dev)
        if pending.numel():                                              # no acceptable step: keep the old
            stuck[pending] = True                                        # point, and stop
            t[pending] = 0.0
            At[pending], g_new[pending], f_try[pending] = A[pending], g[pending], f[pending]
        _push(S, Y, rho, t[:, None] * q, g_new - g, ~stuck, history_size)
        iters += 1
        small_change = (f - f_try).abs() < tol_change
        A, f, g = At, f_try, g_new
        active = ~stuck & (g.abs().amax(1) > tol) & ~small_change
    A_out[ids], iters_out[ids] = A, iters
    return A_out[:, :, :d].contiguous(), A_out[:, :, d].contiguous(), iters_out.cpu().numpy()
