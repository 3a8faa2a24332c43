"""What both linear probes share: their solvers and defaults, the scikit-learn base classes (or a stand-in without
scikit-learn), the validation of features and labels, and the objective (see :mod:`monotheory.probes`)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F

from monotheory.errors import ConfigError

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
