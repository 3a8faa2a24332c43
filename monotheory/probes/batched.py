"""Many independent linear probes fitted at once (one per toy-model instance): batched L-BFGS or Adam
(conventions: :mod:`monotheory.probes`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from monotheory.config import check_choice, check_int, check_nonnegative, check_range
from monotheory.errors import ConfigError
from monotheory.lbfgs import softmax_lbfgs
from monotheory.probes.inputs import (
    BATCHED_SOLVERS,
    DEFAULT_LR,
    _as_features,
    _as_labels,
    _resolve_device,
    _torch_dtype,
)


class BatchedLinearProbe:
    """I independent multinomial logistic regressions fitted at once (e.g. one probe per toy-model instance).

    ``fit(X, y)`` takes X (I, N, d) and y (I, N) (or (N,), shared by all instances), integer labels in
    [0, num_classes). Instance i minimises its own :class:`LinearProbe` objective, mean cross-entropy +
    (λ/2)‖W_i‖², and nothing couples the instances: all of them are evaluated in one batched tensor op.

    Solvers: ``"lbfgs"`` (default) — :func:`monotheory.lbfgs.softmax_lbfgs`, full batch, with a curvature history, a
    backtracking line search and a stopping rule PER INSTANCE (unlike ``torch.optim.LBFGS`` on the summed loss,
    whose line search would be shared), at most ``max_iter`` iterations, gradient tolerance ``tol``, a value
    change below 1e-12 (LinearProbe's ``tolerance_change``) or no acceptable step, trial step ``lr`` (default 1);
    ``"adam"`` — full-batch Adam for ``max_iter`` steps (or ``epochs`` epochs of minibatches when
    ``batch_size`` is given; the minibatch indices are shared) with cosine LR decay; Adam is per-coordinate, so
    instances are independent too. Tested: the fits match I separate LinearProbe fits, and changing one
    instance's data leaves the others' weights unchanged.

    Learned: ``coef_`` (I, C, d), ``intercept_`` (I, C) numpy; ``n_iter_`` (largest iteration count; per
    instance in ``n_iter_per_instance_`` for L-BFGS); ``history_`` (one dict: step, mean loss, loss per
    instance).
    """

    def __init__(self, num_classes: int, *, solver: str = "lbfgs", lr: float | None = None,
                 weight_decay: float = 0.0, epochs: int = 100, max_iter: int = 500, batch_size: int | None = None,
                 random_state: int = 0, device: Any = None, tol: float = 1e-6, progress: bool = False,
                 dtype: torch.dtype = torch.float32):
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        self.solver = check_choice("solver", solver, BATCHED_SOLVERS)
        self.lr = DEFAULT_LR[solver] if lr is None else check_range("lr", lr, 0, math.inf, lo_closed=False)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        self.epochs = check_int("epochs", epochs)
        self.max_iter = check_int("max_iter", max_iter)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size)
        self.random_state = check_int("random_state", random_state, minimum=0)
        self.device = device
        self.tol = check_nonnegative("tol", tol)
        self.progress = bool(progress)
        self.dtype = _torch_dtype(dtype)

    def _labels(self, y: Any, shape: tuple[int, int]) -> torch.Tensor:
        yn = _as_labels(y)
        if yn.ndim == 1:
            yn = np.broadcast_to(yn, (shape[0], yn.shape[0]))
        if yn.shape != shape:
            raise ConfigError(f"y has shape {tuple(yn.shape)} but X needs labels of shape {shape}")
        if yn.size and (yn.min() < 0 or yn.max() >= self.num_classes):
            raise ConfigError(f"y ranges over [{yn.min()}, {yn.max()}], outside [0, {self.num_classes - 1}] "
                              f"for num_classes = {self.num_classes}")
        return torch.from_numpy(np.ascontiguousarray(yn)).to(self.device_)

    def _losses(self, W, b, X, y) -> torch.Tensor:
        """Per-instance objectives, shape (I,)."""
        logits = torch.baddbmm(b.unsqueeze(1), X, W.transpose(1, 2))                   # (I, N, C)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        return ce.view(y.shape).mean(1) + 0.5 * self.weight_decay * (W * W).sum((1, 2))

    def fit(self, X: Any, y: Any) -> BatchedLinearProbe:
        """Fit X (I, N, d) against y (I, N) or (N,). Returns self."""
        self.device_ = _resolve_device(self.device, X)
        Xt = _as_features(X, 3, self.device_, self.dtype)
        if Xt.shape[1] == 0:
            raise ConfigError("X has no samples; a probe needs training samples")
        yt = self._labels(y, tuple(Xt.shape[:2]))
        inst, n, d = Xt.shape
        c = self.num_classes
        self.n_features_in_, self.n_instances_ = d, inst
        if self.solver == "lbfgs":
            W, b, iters = softmax_lbfgs(Xt, yt, c, weight_decay=self.weight_decay, max_iter=self.max_iter,
                                        tol=self.tol, lr=self.lr, progress=self.progress)
            self.n_iter_per_instance_ = iters
            self.n_iter_ = int(iters.max()) if iters.size else 0
        else:
            W = torch.zeros(inst, c, d, device=self.device_, dtype=self.dtype, requires_grad=True)
            b = torch.zeros(inst, c, device=self.device_, dtype=self.dtype, requires_grad=True)
            self.n_iter_ = self._fit_adam(W, b, Xt, yt)
        with torch.no_grad():
            losses = self._losses(W, b, Xt, yt).cpu().numpy()
        self.history_ = [{"step": self.n_iter_, "loss": float(losses.mean()), "loss_per_instance": losses}]
        self.coef_ = W.detach().cpu().numpy()
        self.intercept_ = b.detach().cpu().numpy()
        return self

    def _fit_adam(self, W, b, Xt, yt) -> int:
        opt = torch.optim.Adam([W, b], lr=self.lr)
        n = Xt.shape[1]
        bs = n if self.batch_size is None else min(self.batch_size, n)
        per_epoch = math.ceil(n / bs)
        total = self.max_iter if self.batch_size is None else self.epochs * per_epoch
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        gen = torch.Generator().manual_seed(self.random_state)
        steps = 0
        for _ in tqdm(range(math.ceil(total / per_epoch)), disable=not self.progress, desc="batched probe"):
            perm = torch.randperm(n, generator=gen).to(self.device_) if bs < n else None
            for s in range(0, n, bs):
                xb, yb = (Xt, yt) if perm is None else (Xt[:, perm[s:s + bs]], yt[:, perm[s:s + bs]])
                opt.zero_grad()
                self._losses(W, b, xb, yb).sum().backward()
                opt.step()
                sched.step()
                steps += 1
        return steps

    def decision_function(self, X: Any):
        """Class scores, shape (I, N, C); same type (numpy/torch) as X, torch results on the fit device."""
        if not hasattr(self, "coef_"):
            raise ConfigError("this BatchedLinearProbe is not fitted yet; call fit(X, y) first")
        Xt = _as_features(X, 3, self.device_, self.dtype)
        if Xt.shape[0] != self.n_instances_ or Xt.shape[2] != self.n_features_in_:
            raise ConfigError(f"X has shape {tuple(Xt.shape)}; the probe was fitted on "
                              f"({self.n_instances_}, N, {self.n_features_in_})")
        W = torch.from_numpy(self.coef_).to(self.device_, self.dtype)
        b = torch.from_numpy(self.intercept_).to(self.device_, self.dtype)
        logits = torch.baddbmm(b.unsqueeze(1), Xt, W.transpose(1, 2))
        return logits if isinstance(X, torch.Tensor) else logits.cpu().numpy()

    def predict(self, X: Any):
        """Predicted classes, shape (I, N); int64 tensor for tensor X, numpy array otherwise."""
        logits = self.decision_function(X)
        return logits.argmax(-1)

    def score(self, X: Any, y: Any) -> np.ndarray:
        """Accuracy of each instance, numpy array of shape (I,). y is (I, N) or (N,)."""
        pred = self.predict(X)
        pred = pred.cpu().numpy() if isinstance(pred, torch.Tensor) else pred
        yn = _as_labels(y)
        yn = np.broadcast_to(yn, pred.shape) if yn.ndim == 1 and yn.shape[0] == pred.shape[1] else yn
        if yn.shape != pred.shape:
            raise ConfigError(f"y has shape {tuple(yn.shape)} but predictions have shape {pred.shape}")
        return (pred == yn).mean(1)
