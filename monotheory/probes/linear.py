"""The linear probe: multinomial logistic regression on frozen features, a scikit-learn classifier in torch
(conventions: :mod:`monotheory.probes`)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from monotheory.config import check_choice, check_int, check_nonnegative, check_range
from monotheory.errors import ConfigError
from monotheory.probes.inputs import (
    _CHUNK,
    _LBFGS_CHUNK,
    DEFAULT_LR,
    SOLVERS,
    NotFittedError,
    _as_features,
    _as_labels,
    _Base,
    _DataConversion,
    _Mixin,
    _objective,
    _resolve_device,
    _torch_dtype,
)
from monotheory.seeding import as_seed


class LinearProbe(_Mixin, _Base):
    """Multinomial logistic regression (with bias) trained on frozen features.

    Args:
        num_classes: C; if None the classes are the sorted unique values of ``y`` (``classes_``); if given, the
            classes are 0..C−1 and ``y`` must lie in that range (classes absent from y are allowed).
        solver: ``"lbfgs"`` — full batch, ``torch.optim.LBFGS`` with strong-Wolfe line search, at most
            ``max_iter`` iterations; ``"sgd"`` — minibatch SGD with ``momentum``, cosine LR decay to 0 over
            ``epochs`` (the paper probes with SGD, lr 1.5, batch 256, 50 epochs); ``"adam"`` — minibatch Adam,
            same schedule.
        lr: learning rate; default 1.0 for lbfgs and sgd, 1e-2 for adam.
        weight_decay: λ of the (λ/2)·‖W‖² penalty (bias not penalised).
        early_stopping: hold out ``validation_fraction`` of the training set; stop when the validation accuracy
            has not improved for ``patience`` epochs (L-BFGS: blocks of 20 iterations) and restore the best W.
        standardize: scale features to zero mean / unit variance (statistics of the fitting part) for the fit;
            ``weight_decay`` then acts on the standardised weights, and ``coef_`` / ``intercept_`` are mapped
            back so they act on the raw features.
        tol: gradient tolerance of L-BFGS (``tolerance_grad``). dtype: float type of the fit, a name
            (``"float32"``, ``"float64"``) or a torch dtype.
        random_state: None (fresh entropy), an int or a ``numpy.random.Generator`` (through
            :func:`monotheory.seeding.as_seed`); drives the shuffling and the validation split only.

    scikit-learn contract: ``__init__`` stores the parameters untouched, :meth:`fit` validates them (a
    ``ConfigError`` naming the value) and returns self; ``get_params`` / ``set_params`` / ``clone`` work
    (it is a scikit-learn classifier when scikit-learn is installed). Labels: integers, or any sortable labels
    (e.g. strings) when ``num_classes`` is None. ``decision_function`` returns (N, C) scores, also for C = 2.

    Learned: ``coef_`` (C, d), ``intercept_`` (C,), ``classes_``, ``n_features_in_``, ``n_iter_`` (L-BFGS
    iterations, or epochs run), ``history_`` (dicts with epoch, loss = training objective, train_acc, lr, and
    val_acc when early stopping), ``device_``.
    """

    def __init__(self, num_classes: int | None = None, *, solver: str = "lbfgs", lr: float | None = None,
                 weight_decay: float = 0.0, epochs: int = 100, batch_size: int = 256, max_iter: int = 500,
                 momentum: float = 0.9, early_stopping: bool = False, validation_fraction: float = 0.1,
                 patience: int = 5, standardize: bool = False, device: Any = None, random_state: Any = 0,
                 progress: bool = False, tol: float = 1e-6, dtype: Any = "float32"):
        # scikit-learn contract: store the parameters untouched; :meth:`fit` validates them
        self.num_classes = num_classes
        self.solver = solver
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.tol = tol
        self.dtype = dtype

    def _validate_params(self) -> None:
        """Check every parameter (ConfigError naming the value) and resolve the defaults that depend on others."""
        if self.num_classes is not None:
            check_int("num_classes", self.num_classes, minimum=2)
        check_choice("solver", self.solver, SOLVERS)
        self.lr_ = DEFAULT_LR[self.solver] if self.lr is None else check_range("lr", self.lr, 0, math.inf,
                                                                               lo_closed=False)
        check_nonnegative("weight_decay", self.weight_decay)
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_int("max_iter", self.max_iter)
        check_range("momentum", self.momentum, 0, 1, hi_closed=False)
        check_range("validation_fraction", self.validation_fraction, 0, 1, lo_closed=False, hi_closed=False)
        check_int("patience", self.patience)
        check_nonnegative("tol", self.tol)
        self.dtype_ = _torch_dtype(self.dtype)

    # ------------------------------------------------------------------------------------------- fitting

    def _encode(self, y: np.ndarray) -> np.ndarray:
        if self.num_classes is not None:
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ConfigError(f"y ranges over [{y.min()}, {y.max()}], outside [0, {self.num_classes - 1}] "
                                  f"for num_classes = {self.num_classes}")
            self.classes_ = np.arange(self.num_classes)
            return y
        self.classes_, inv = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ConfigError(f"y contains {len(self.classes_)} class; a probe needs at least 2 "
                              "(or pass num_classes)")
        return inv.reshape(-1)

    def fit(self, X: Any, y: Any) -> LinearProbe:
        """Fit on features X (N, d) and integer labels y (N,). Returns self."""
        self._validate_params()
        if y is None:
            raise ConfigError("LinearProbe requires y to be passed, but the target y is None")
        self.device_ = _resolve_device(self.device, X)
        Xt = _as_features(X, 2, self.device_, self.dtype_)
        yn = _as_labels(y, any_labels=self.num_classes is None)
        if yn.ndim == 2 and yn.shape[1] == 1:  # a column vector: scikit-learn warns and ravels
            warnings.warn("A column-vector y was passed when a 1d array was expected; it was flattened to (N,)",
                          _DataConversion, stacklevel=2)
            yn = yn.ravel()
        if yn.ndim != 1 or yn.shape[0] != Xt.shape[0]:
            raise ConfigError(f"y has shape {tuple(yn.shape)} but X has {Xt.shape[0]} rows; "
                              "one label per row is required")
        if Xt.shape[0] == 0:
            raise ConfigError("X is empty; a probe needs training samples")
        yt = torch.from_numpy(self._encode(yn)).to(self.device_)
        n, d = Xt.shape
        c = len(self.classes_)
        self.n_features_in_ = d

        gen = torch.Generator().manual_seed(as_seed(self.random_state, "probe"))
        Xv = yv = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * n))
            if n_val < 1 or n_val >= n:
                raise ConfigError(f"validation_fraction = {self.validation_fraction} leaves {n_val} of {n} "
                                  "samples for validation; need at least 1 and fewer than all")
            perm = torch.randperm(n, generator=gen).to(self.device_)
            Xv, yv = Xt[perm[:n_val]], yt[perm[:n_val]]
            Xt, yt = Xt[perm[n_val:]], yt[perm[n_val:]]
        mean = torch.zeros(d, device=self.device_, dtype=self.dtype_)
        scale = torch.ones(d, device=self.device_, dtype=self.dtype_)
        if self.standardize:  # statistics of the fitting part only, so validation stays unseen
            mean, std = Xt.mean(0), Xt.std(0, unbiased=False)
            scale = torch.where(std > 0, std, torch.ones_like(std))
            Xt = (Xt - mean) / scale
            Xv = None if Xv is None else (Xv - mean) / scale

        W = torch.zeros(c, d, device=self.device_, dtype=self.dtype_, requires_grad=True)
        b = torch.zeros(c, device=self.device_, dtype=self.dtype_, requires_grad=True)
        self.history_ = []
        run = self._fit_lbfgs if self.solver == "lbfgs" else self._fit_minibatch
        self.n_iter_ = run(W, b, Xt, yt, Xv, yv, gen)

        with torch.no_grad():  # map back to raw features: W x' + b with x' = (x - mean)/scale
            W_raw = W / scale
            b_raw = b - W_raw @ mean
        self.coef_ = W_raw.detach().cpu().numpy()
        self.intercept_ = b_raw.detach().cpu().numpy()
        return self

    def _record(self, epoch, W, b, Xt, yt, Xv, yv, lr) -> dict:
        with torch.no_grad():
            loss, correct = 0.0, 0
            for s in range(0, Xt.shape[0], _CHUNK):
                logits = Xt[s:s + _CHUNK] @ W.T + b
                loss += F.cross_entropy(logits, yt[s:s + _CHUNK], reduction="sum").item()
                correct += (logits.argmax(1) == yt[s:s + _CHUNK]).sum().item()
            n = Xt.shape[0]
            entry = {"epoch": epoch, "loss": loss / n + 0.5 * self.weight_decay * (W * W).sum().item(),
                     "train_acc": correct / n, "lr": lr}
            if Xv is not None:
                entry["val_acc"] = ((Xv @ W.T + b).argmax(1) == yv).double().mean().item()
        self.history_.append(entry)
        return entry

    def _early_stop(self, W, b, entry, best) -> bool:
        """Track the best validation accuracy; True when patience has run out."""
        if entry["val_acc"] > best["acc"]:
            best.update(acc=entry["val_acc"], W=W.detach().clone(), b=b.detach().clone(), wait=0)
            return False
        best["wait"] += 1
        return best["wait"] >= self.patience

    def _fit_lbfgs(self, W, b, Xt, yt, Xv, yv, gen) -> int:
        opt = torch.optim.LBFGS([W, b], lr=self.lr_, max_iter=_LBFGS_CHUNK, line_search_fn="strong_wolfe",
                                tolerance_grad=self.tol, tolerance_change=1e-12, history_size=20)

        def closure():
            opt.zero_grad()
            loss = _objective(Xt @ W.T + b, yt, W, self.weight_decay)
            loss.backward()
            return loss

        done, block, best = 0, 0, {"acc": -1.0, "wait": 0}
        bar = tqdm(total=self.max_iter, disable=not self.progress, desc="L-BFGS probe")
        while done < self.max_iter:
            step = min(_LBFGS_CHUNK, self.max_iter - done)
            max_eval = step * 5 // 4                                        # torch's default ratio
            opt.param_groups[0].update(max_iter=step, max_eval=max_eval)
            state = opt.state[W]                       # the same dict L-BFGS keeps its counters in
            evals0 = state.get("func_evals", 0)
            opt.step(closure)
            ran, evals = state.get("n_iter", 0) - done, state.get("func_evals", 0) - evals0
            done += ran
            block += 1
            bar.update(ran)
            entry = self._record(block, W, b, Xt, yt, Xv, yv, self.lr_)
            # converged: L-BFGS stopped before its iteration budget for a reason other than the eval cap
            converged = ran < step and evals < max_eval
            if converged or (self.early_stopping and self._early_stop(W, b, entry, best)):
                break
        bar.close()
        self._restore_best(W, b, best)
        return done

    def _fit_minibatch(self, W, b, Xt, yt, Xv, yv, gen) -> int:
        groups = [{"params": [W], "weight_decay": self.weight_decay}, {"params": [b], "weight_decay": 0.0}]
        if self.solver == "sgd":
            opt = torch.optim.SGD(groups, lr=self.lr_, momentum=self.momentum)
        else:
            opt = torch.optim.Adam(groups, lr=self.lr_)
        n = Xt.shape[0]
        steps_per_epoch = math.ceil(n / self.batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * steps_per_epoch)
        best = {"acc": -1.0, "wait": 0}
        epoch = 0
        for epoch in tqdm(range(1, self.epochs + 1), disable=not self.progress, desc=f"{self.solver} probe"):
            perm = torch.randperm(n, generator=gen).to(self.device_)
            for s in range(0, n, self.batch_size):
                idx = perm[s:s + self.batch_size]
                opt.zero_grad()
                # the L2 term enters through the optimiser's weight_decay (gradient λW), not the loss
                F.cross_entropy(Xt[idx] @ W.T + b, yt[idx]).backward()
                opt.step()
                sched.step()
            entry = self._record(epoch, W, b, Xt, yt, Xv, yv, opt.param_groups[0]["lr"])
            if self.early_stopping and self._early_stop(W, b, entry, best):
                break
        self._restore_best(W, b, best)
        return epoch

    @staticmethod
    def _restore_best(W, b, best) -> None:
        if "W" in best:
            with torch.no_grad():
                W.copy_(best["W"])
                b.copy_(best["b"])

    # ----------------------------------------------------------------------------------------- prediction

    def _check_fitted(self, X: Any) -> torch.Tensor:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this LinearProbe is not fitted yet; call fit(X, y) first")
        Xt = _as_features(X, 2, self.device_, self.dtype_)
        if Xt.shape[1] != self.n_features_in_:
            raise ConfigError(f"X has {Xt.shape[1]} features, but LinearProbe is expecting {self.n_features_in_} "
                              "features as input")
        return Xt

    def _logits(self, X: Any) -> torch.Tensor:
        Xt = self._check_fitted(X)
        W = torch.from_numpy(self.coef_).to(self.device_, self.dtype_)
        b = torch.from_numpy(self.intercept_).to(self.device_, self.dtype_)
        return torch.cat([Xt[s:s + _CHUNK] @ W.T + b for s in range(0, Xt.shape[0], _CHUNK)]) if len(Xt) else \
            Xt.new_zeros((0, len(b)))

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores X·coef_ᵀ + intercept_, shape (N, C)."""
        return self._logits(X).cpu().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax class probabilities, shape (N, C), columns in the order of ``classes_``."""
        return torch.softmax(self._logits(X), dim=1).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (values from ``classes_``), numpy int array of shape (N,)."""
        idx = self._logits(X).argmax(1).cpu().numpy()
        return self.classes_[idx]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` against labels y."""
        yn = _as_labels(y, any_labels=True)
        pred = self.predict(X)
        if yn.shape != pred.shape:
            raise ConfigError(f"y has shape {tuple(yn.shape)} but X has {pred.shape[0]} rows")
        return float((pred == yn).mean()) if yn.size else float("nan")
