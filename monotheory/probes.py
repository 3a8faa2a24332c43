"""Linear probes: multinomial logistic regression on frozen features, scikit-learn style, in torch.

Conventions
-----------
- Objective (both classes): mean cross-entropy over the training samples + (weight_decay / 2)·‖W‖², the bias
  unpenalised. ``weight_decay`` is therefore PyTorch's L2 weight decay on W, and scikit-learn's
  ``LogisticRegression(C=c)`` is the same problem with ``weight_decay = 1 / (c · N)``.
- W is (C, d) with one row per class (the over-complete multinomial parametrisation, also for C = 2); weights
  and bias start at zero, so a fit is deterministic given ``random_state`` (which only drives shuffling and the
  validation split).
- Inputs may be numpy arrays or torch tensors on any device; ``device=None`` fits on X's device (CPU for numpy),
  ``"auto"`` picks CUDA when available. Learned attributes (``coef_``, ``intercept_``, ``classes_`` …) are numpy.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from monotheory.config import check_choice, check_int, check_nonnegative, check_range
from monotheory.errors import ConfigError
from monotheory.lbfgs import batched_lbfgs, softmax_lbfgs  # noqa: F401  (batched_lbfgs: re-exported)
from monotheory.seeding import as_seed

SOLVERS = ("lbfgs", "sgd", "adam")
BATCHED_SOLVERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "sgd": 1.0, "adam": 1e-2}
_CHUNK = 65_536          # rows per forward pass when evaluating, to bound memory on large feature sets
_LBFGS_CHUNK = 20        # L-BFGS iterations between history entries / early-stopping checks


try:
    from sklearn.exceptions import DataConversionWarning as _DataConversion
except ImportError:  # pragma: no cover
    _DataConversion = UserWarning

try:  # optional: with scikit-learn, LinearProbe is a scikit-learn classifier (clone, pipelines, grid search)
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _Mixin
except ImportError:  # pragma: no cover - scikit-learn is in the dev extra
    class _Mixin:
        pass

    class _Base:
        """``get_params`` / ``set_params`` as scikit-learn defines them (parameters = ``__init__`` arguments)."""

        def get_params(self, deep: bool = True) -> dict:
            names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
            return {p: getattr(self, p) for p in names}

        def set_params(self, **params):
            valid = self.get_params()
            for k, v in params.items():
                if k not in valid:
                    raise ConfigError(f"{k!r} is not a parameter of {type(self).__name__}; allowed: "
                                      + ", ".join(valid))
                setattr(self, k, v)
            return self


def _resolve_device(device: Any, X: Any) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is not None:
        return torch.device(device)
    return X.device if isinstance(X, torch.Tensor) else torch.device("cpu")


class _NotNumeric(ConfigError, TypeError):
    """A feature entry that is not a number (a TypeError too, as NumPy raises for it)."""


def _torch_dtype(dtype: Any) -> torch.dtype:
    """A floating torch dtype from a torch dtype or its name (``"float32"``, ``"float64"``, …)."""
    t = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not (isinstance(t, torch.dtype) and t.is_floating_point):
        raise ConfigError(f"dtype = {dtype!r} is not a floating-point dtype; allowed: float32, float64 "
                          "(a name or a torch dtype)")
    return t


def _as_features(X: Any, ndim: int, device: torch.device, dtype: torch.dtype, name: str = "X") -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        t = X.detach()
        if t.is_complex():
            raise ConfigError(f"{name} is complex; Complex data not supported")
    else:
        if scipy.sparse.issparse(X):
            raise ConfigError(f"{name} is a scipy sparse matrix; sparse input is not supported, pass a dense array")
        arr = np.asarray(X)
        if np.iscomplexobj(arr):
            raise ConfigError(f"{name} has dtype {arr.dtype}; Complex data not supported")
        if arr.dtype == object:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as e:
                raise _NotNumeric(f"{name} has dtype object with an entry that is not a number ({e}); numeric "
                                  "features are required") from None
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ConfigError(f"{name} has dtype {arr.dtype}; numeric features are required")
        t = torch.from_numpy(arr.astype(np.float64, copy=False) if arr.dtype == bool else arr)
    if t.ndim != ndim:
        want = "(N, d)" if ndim == 2 else "(I, N, d)"
        raise ConfigError(f"{name} has shape {tuple(t.shape)}; a {want} array is required "
                          "(Reshape your data, e.g. with x.reshape(-1, 1) for a single feature)")
    if t.shape[-1] == 0:
        raise ConfigError(f"{name} has 0 feature(s) (shape={tuple(t.shape)}) while a minimum of 1 is required.")
    t = t.to(device=device, dtype=dtype)
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return t


def _as_labels(y: Any, any_labels: bool = False) -> np.ndarray:
    """Integer labels as int64 (integral floats accepted); with ``any_labels`` also strings / objects, as is."""
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if np.iscomplexobj(arr):
        raise ConfigError(f"y has dtype {arr.dtype}; Complex data not supported")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ConfigError(f"y has dtype {arr.dtype} with non-integer values (Unknown label type: continuous); "
                              "integer class labels are required")
        return arr.astype(np.int64)
    if any_labels and arr.dtype.kind in "USO":
        return arr
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"y has dtype {arr.dtype}; integer class labels are required")
    return arr.astype(np.int64, copy=False)


try:
    from sklearn.exceptions import NotFittedError as _NotFitted
except ImportError:  # pragma: no cover
    _NotFitted = AttributeError


class NotFittedError(ConfigError, _NotFitted):
    """Prediction before ``fit`` (also scikit-learn's ``NotFittedError`` when scikit-learn is installed)."""


def _objective(logits: torch.Tensor, y: torch.Tensor, W: torch.Tensor, weight_decay: float) -> torch.Tensor:
    loss = F.cross_entropy(logits, y)
    return loss + 0.5 * weight_decay * (W * W).sum() if weight_decay else loss


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
