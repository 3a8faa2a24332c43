"""Feature metrics shared by toy models, sparse autoencoders and encoders.

Conventions
-----------
- ``features`` is an (N, D) matrix: one row per sample, one column per feature dimension (a neuron / latent).
  numpy arrays and torch tensors (any device) are accepted; results are Python floats or numpy arrays.
- Weight matrices ``W`` follow Elhage et al. (*Toy Models of Superposition*): shape (m, n), column i is the
  embedding W_i ∈ R^m of feature i; a batch of models is (I, m, n).
- Direction matrices for :func:`feature_recovery` have one direction per ROW.
- :func:`near_zero_fraction` is the share of near-zero entries of a feature matrix (the paper calls it
  "sparsity"); it is the empirical counterpart of the data-model sparsity S = P(feature is zero), which is
  the name ``sparsity`` everywhere else in monotheory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monotheory.config import check_nonnegative
from monotheory.errors import ConfigError

_ROWS = 16_384  # samples per chunk: float32 counts stay exact (< 2**24) and masks stay small


def _to_numpy(x: Any, name: str, ndim: tuple[int, ...] | None = None, dtype=np.float64) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(x)
    if dtype is not None:
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ConfigError(f"{name} has dtype {arr.dtype}; a numeric array is required")
        arr = arr.astype(dtype, copy=False)
    if ndim is not None and arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ConfigError(f"{name} has shape {tuple(arr.shape)}; a {want} array is required")
    if dtype is not None and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return arr


def _to_torch_features(features: Any, ndims: tuple[int, ...] = (2,)):
    """Float tensor on the input's device (numpy → CPU), without copying when possible."""
    import torch

    if isinstance(features, torch.Tensor):
        z = features.detach()
        z = z.float() if not z.dtype.is_floating_point else z
    else:
        z = torch.from_numpy(_to_numpy(features, "features", dtype=np.float32))
    if z.ndim not in ndims:
        want = " or ".join({2: "(N, D)", 3: "(I, N, D)"}[k] for k in ndims)
        raise ConfigError(f"features have shape {tuple(z.shape)}; an {want} array is required")
    if not torch.isfinite(z).all():
        raise ConfigError("features contain NaN or infinite values")
    return z


def _l2_rows(z):
    # rows (last axis) with zero norm stay zero: there is nothing to normalise
    norm = z.norm(dim=-1, keepdim=True)
    return z / norm.clamp_min(1e-12)


def _encode_labels(labels: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Labels of the given shape → indices 0..K−1 into their sorted distinct values, and K."""
    y = _to_numpy(labels, "labels", dtype=None)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"labels have dtype {y.dtype}; integer class labels are required")
    if y.shape != tuple(shape):
        raise ConfigError(f"labels have shape {tuple(y.shape)} but features need one label per row, "
                          f"shape {tuple(shape)}")
    classes, inv = np.unique(y, return_inverse=True)
    return inv.reshape(y.shape), len(classes)


# --------------------------------------------------------------------------------------- monosemanticity


def monosemanticity_score(features: Any, labels: Any, *, threshold: float = 1e-5, normalize: bool = True,
                          return_per_dim: bool = False):
    """Class-purity monosemanticity score (the NCL paper's measurement, PAPER.md §5).

    Each sample's feature vector is L2-normalised (if ``normalize``). A dimension d is *active* on sample s when
    |z_sd| > ``threshold``. For each dimension active on at least one sample, its score is the share of the most
    common class among the samples where it is active; the result is the mean over active dimensions
    (dimensions never active are left out). Dense features score the largest class share (1/C for balanced
    classes, a little above 1/C for random labels); class-aligned one-hot features score 1.

    ``features`` (N, D) with ``labels`` (N,) gives a float (NaN if no dimension is ever active); a batch
    (I, N, D) with labels (I, N) gives a numpy array (I,) of per-instance scores. With ``return_per_dim`` also
    returns the per-dimension shares, (D,) or (I, D), NaN for dimensions never active.
    """
    import torch

    threshold = check_nonnegative("threshold", threshold)
    z = _to_torch_features(features, (2, 3))
    if z.shape[-2] == 0 or z.shape[-1] == 0:  # issue 11: torch's IndexError before
        raise ConfigError(f"features have shape {tuple(z.shape)}; the score needs at least one sample and one "
                          "dimension")
    single = z.ndim == 2
    inv, c = _encode_labels(labels, tuple(z.shape[:-1]))
    z, inv = (z.unsqueeze(0), inv[None]) if single else (z, inv)           # (I, N, D), (I, N)
    y = torch.from_numpy(inv).to(z.device)
    counts = torch.zeros(z.shape[0], c, z.shape[2], dtype=torch.float64, device=z.device)
    for s in range(0, z.shape[1], _ROWS):  # chunks of samples bound the memory of the (N, D) activity masks
        zc = _l2_rows(z[:, s:s + _ROWS]) if normalize else z[:, s:s + _ROWS]
        active = (zc.abs() > threshold).to(torch.float32)                  # (I, n, D)
        onehot = torch.nn.functional.one_hot(y[:, s:s + _ROWS], c).to(torch.float32)
        counts += torch.bmm(onehot.transpose(1, 2), active).double()      # (I, C, D) class counts per dim
    total = counts.sum(1)                                                  # (I, D)
    per_dim = torch.where(total > 0, counts.max(1).values / total.clamp_min(1), torch.nan).cpu().numpy()
    n_active = np.isfinite(per_dim).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(n_active > 0, np.nansum(per_dim, -1) / np.maximum(n_active, 1), np.nan)
    if single:
        scores, per_dim = float(scores[0]), per_dim[0]
    return (scores, per_dim) if return_per_dim else scores


def near_zero_fraction(features: Any, threshold: float = 1e-2, normalize: bool = True) -> float:
    """Share of entries with |z| < ``threshold``, after L2-normalising each row if ``normalize``: the paper's
    "sparsity" measurement of a feature matrix (1 means all entries are (near) zero). Not the data model's S."""
    threshold = check_nonnegative("threshold", threshold)
    z = _to_torch_features(features)
    if not z.numel():  # issue 11: a silent NaN before
        raise ConfigError(f"features have shape {tuple(z.shape)}; near_zero_fraction needs at least one entry")
    small = 0
    for s in range(0, z.shape[0], _ROWS):
        zc = _l2_rows(z[s:s + _ROWS]) if normalize else z[s:s + _ROWS]
        small += int((zc.abs() < threshold).sum().item())
    return small / z.numel()


# --------------------------------------------------------------------------------------- superposition


def _weights(W: Any) -> np.ndarray:
    w = _to_numpy(W, "W", ndim=(2, 3))
    return w


def feature_dimensionality(W: Any) -> np.ndarray:
    """Per-feature dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² (Elhage et al. 2022).

    ``W`` is (m, n) with column i the embedding of feature i, or a batch (I, m, n); returns (n,) or (I, n).
    Equivalently D_i = G_ii² / Σ_j G_ij² with G = WᵀW. An orthonormal set gives 1 per feature, an antipodal
    pair 1/2 each, a feature that is not represented (W_i = 0) gets 0.
    """
    w = _weights(W)
    g = np.swapaxes(w, -1, -2) @ w                                         # (…, n, n) Gram matrix
    diag = np.diagonal(g, axis1=-2, axis2=-1)
    denom = (g**2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(denom > 0, diag**2 / np.where(denom > 0, denom, 1.0), 0.0)
    return d


def dimensions_per_feature(W: Any):
    """Elhage's D* = m / ‖W‖_F²: hidden dimensions per (embedded) feature. (m, n) → float; (I, m, n) → (I,).

    With unit-norm feature columns, ‖W‖_F² counts the represented features, so D* = m / (#features).
    """
    w = _weights(W)
    fro = (w**2).sum(axis=(-2, -1))
    m = w.shape[-2]
    with np.errstate(divide="ignore"):
        d = np.where(fro > 0, m / np.where(fro > 0, fro, 1.0), np.inf)
    return float(d) if w.ndim == 2 else d


# --------------------------------------------------------------------------------------- feature recovery


def _cosines(learned: Any, true: Any) -> np.ndarray:
    a = _to_numpy(learned, "learned", ndim=(2,))
    b = _to_numpy(true, "true", ndim=(2,))
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"learned directions have dimension {a.shape[1]} but true ones {b.shape[1]}")
    # zero rows get cosine 0 with everything instead of NaN
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T                                                         # (k_learned, k_true)


def feature_recovery(learned: Any, true: Any, *, absolute: bool = True, return_matching: bool = False):
    """Mean cosine between true feature directions and their Hungarian-matched learned directions.

    Rows of ``learned`` (k_l, d) and ``true`` (k_t, d) are directions. Learned and true rows are paired one to
    one by :func:`scipy.optimize.linear_sum_assignment` maximising the total |cos| (``absolute=True``: the sign
    of a learned direction is arbitrary) or the total signed cos (``absolute=False``). The score is the mean
    over the k_t TRUE features of the matched (|)cos(|), a true feature left unmatched (k_l < k_t) counting 0:
    1 means every true feature is recovered. With ``return_matching``, also returns ``(learned_idx, true_idx)``.
    """
    from scipy.optimize import linear_sum_assignment

    cos = _cosines(learned, true)
    sim = np.abs(cos) if absolute else cos
    rows, cols = linear_sum_assignment(sim, maximize=True)
    score = float(sim[rows, cols].sum() / cos.shape[1]) if cos.shape[1] else float("nan")
    return (score, (rows, cols)) if return_matching else score


def mean_max_cosine(learned: Any, true: Any, *, absolute: bool = True) -> float:
    """For each true feature (row of ``true``), the largest (|)cos(|) with any learned row; mean over true
    features. Unlike :func:`feature_recovery` one learned direction may serve several true features."""
    cos = _cosines(learned, true)
    sim = np.abs(cos) if absolute else cos
    return float(sim.max(0).mean()) if sim.size else float("nan")


# --------------------------------------------------------------------------------------- separability


def fisher_separability(features: Any, labels: Any) -> np.ndarray:
    """Fisher separability of each feature dimension; returns a length-D numpy array.

    Two classes: J = (μ1 − μ0)² / (σ0² + σ1²), population variances (ddof = 0) within each class, which is
    the theory layer's J0. C classes: the same ratio averaged over class pairs,
    J = mean_{k<l} (μ_k − μ_l)² / mean_{k<l} (σ_k² + σ_l²) = (C/(C−1)) · B/W with B = (1/C) Σ_k (μ_k − μ̄)² and
    W = (1/C) Σ_k σ_k² (classes weighted equally, μ̄ = mean of class means); for C = 2 it is exactly the binary
    formula. A dimension with zero within-class variance gets +inf (or NaN if its class means also agree).
    """
    z = _to_numpy(features, "features", ndim=(2,))
    inv, c = _encode_labels(labels, z.shape[:1])
    if c < 2:
        raise ConfigError(f"labels contain {c} class; Fisher separability needs at least 2")
    counts = np.bincount(inv, minlength=c).astype(np.float64)              # (C,)
    onehot = np.zeros((z.shape[0], c))
    onehot[np.arange(z.shape[0]), inv] = 1.0
    means = (onehot.T @ z) / counts[:, None]                               # (C, D)
    var = (onehot.T @ (z - means[inv]) ** 2) / counts[:, None]              # (C, D), ddof = 0, centred
    between = means.var(axis=0)                                            # (1/C) Σ (μ_k − μ̄)²
    within = var.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (c / (c - 1)) * between / within


# --------------------------------------------------------------------------------------- exact zeros


def zero_fraction(features: Any) -> float:
    """Share of entries that are exactly zero (no normalisation, no threshold): the sparsity of ReLU outputs
    such as MonoLoRA codes, where a unit is either off (0) or on. NaN for an empty array."""
    z = _to_torch_features(features, (2, 3))
    if not z.numel():
        return float("nan")
    return float((z == 0).sum().item()) / z.numel()
# ------------------------------------------------------------------- superposition of W, basis-free (WᵀW)

# Feature i counts as *represented* when ‖W_i‖ exceeds this (half a unit-norm embedding); the same threshold as
# Elhage et al.'s plots. Interference of a represented feature: Σ_{j≠i} (Ŵ_i · W_j)², 0 for an orthogonal set,
# about 1 for a member of an antipodal pair.
REPRESENTED_NORM = 0.5
# The premise rule of the toy checks (issue 22 restored the interference bound for per-unit codes, which had been
# dropped for them on 2026-12-02). Why these thresholds — measured on search seeds 0–4 (1000 Adam steps, n = 40,
# m = 20, uniform importance; `monotheory toy controls --seed 0 --n-seeds 5 --controls-ks 1,2,4,8,20
# --controls-tasks argmax --controls-labels all`, table in docs/toy.md), before any accuracy was looked at:
# * interference (basis-free, the off-diagonal mass of WᵀW that the paper's Figure 5a shows): codes monosemantic by
#   construction (oracle, oracle-rot, oracle-topk at every k) 0.000; poly (linear, trained) 0.52 at S = 0.2 and 1.02
#   at S = 0.8; trained top-k codes with ≥ 2.4 features per unit (k ≥ 4 at S = 0.8, every k at S = 0.2) 0.47–5.7;
#   the trained top-2 code at S = 0.8 (1.00 feature per unit) 0.46–0.53, poly's level at S = 0.2, and the top-1 code
#   at S = 0.8 (1.00–1.05 per unit) 5.2–5.7. Every bound in (0, 0.46) gives the same verdicts on all these codes;
#   0.1 means crosstalk ≤ 10 % of a unit-norm feature's signal variance (independent, equal-variance features)
#   and is the bound the rule had from the start.
# * per-unit measures (codes with a per-unit nonlinearity only): by construction 1.00 feature per unit and
#   recovery 1.00; the trained top-k codes above 1.0–22 per unit, recovery 0.37–0.97. They add the basis
#   condition (a rotated monosemantic code has interference 0 but mixes every feature into every unit).
MAX_INTERFERENCE = 0.1          # a code with a mean interference above this has features in superposition
MAX_FEATURES_PER_UNIT = 1.25
MIN_FEATURE_RECOVERY = 0.9
MONOSEMANTIC_RULE = (
    "monosemantic (per instance, label-free, on W): every code needs its represented features "
    f"(‖W_i‖ > {REPRESENTED_NORM:g}) orthogonal, mean interference Σ_(j≠i)(Ŵ_i·W_j)² ≤ {MAX_INTERFERENCE:g} (WᵀW "
    "diagonal, as in the paper's Figure 5a); a code with a per-unit nonlinearity (ReLU, top-k) also needs each unit "
    f"to carry one feature: features_per_unit ≤ {MAX_FEATURES_PER_UNIT:g} AND unit_feature_recovery ≥ "
    f"{MIN_FEATURE_RECOVERY:g}; a LINEAR code has no privileged basis (a linear probe is invariant to any invertible "
    "map of h), so per-unit measures are not computed for it and it is monosemantic up to basis; polysemantic = not "
    "monosemantic. Thresholds: measured separation of codes mono and poly by construction (metrics.py, docs/toy.md)")


def superposition_measures(W: Any, *, represented: float = REPRESENTED_NORM) -> dict[str, np.ndarray]:
    """Basis-free measures of W (m, n) or (I, m, n), all functions of the Gram matrix G = WᵀW only (so any
    orthogonal map of h leaves them unchanged). Per instance:

    * ``represented``: #features with ‖W_i‖ > ``represented``;
    * ``interference``: mean over represented features of Σ_{j≠i} (Ŵ_i · W_j)² (NaN if none represented);
    * ``max_interference``: the largest such sum;
    * ``dimensions_per_feature``: Elhage's m / ‖W‖_F²;
    * ``feature_dimensionality``: mean over represented features of D_i (:func:`feature_dimensionality`);
    * ``superposition``: max(0, represented − m) / (n − m) (0: at most m features, 1: all n in m dimensions).
    """
    w = _weights(W)
    single = w.ndim == 2
    w = w[None] if single else w
    m, n = w.shape[-2:]
    g = np.swapaxes(w, -1, -2) @ w                                         # (I, n, n)
    norm2 = np.diagonal(g, axis1=-2, axis2=-1)
    rep = np.sqrt(norm2) > represented                                     # (I, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        proj = g**2 / np.where(norm2 > 0, norm2, 1.0)[..., :, None]        # (Ŵ_i·W_j)², row i
    inter = proj.sum(-1) - np.where(norm2 > 0, norm2, 0.0)                 # drop j = i: (Ŵ_i·W_i)² = ‖W_i‖²
    k = rep.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_int = np.where(k > 0, (inter * rep).sum(-1) / np.maximum(k, 1), np.nan)
        max_int = np.where(k > 0, np.where(rep, inter, -np.inf).max(-1), np.nan)
        dims = np.where(k > 0, (feature_dimensionality(w) * rep).sum(-1) / np.maximum(k, 1), np.nan)
    out = {"represented": k, "interference": mean_int, "max_interference": max_int,
           "dimensions_per_feature": np.asarray(dimensions_per_feature(w)), "feature_dimensionality": dims,
           "superposition": np.maximum(k - m, 0) / max(n - m, 1)}
    return {key: v[0] for key, v in out.items()} if single else out


# ----------------------------------------------------------- per-unit measures (per-unit nonlinearity only)


def _per_unit_guard(per_unit_code: bool, what: str) -> None:
    if not per_unit_code:
        raise ConfigError(f"{what} was asked of a linear code; a per-unit measure only means something for a code "
                          "with a per-unit nonlinearity (ReLU, top-k): use superposition_measures for linear codes")


def features_per_unit(W: Any, *, per_unit_code: bool = True, represented: float = REPRESENTED_NORM,
                      share: float = 0.5) -> np.ndarray:
    """Label-free count of the features each hidden unit carries, averaged over units: (I, m, n) → (I,).

    Feature i is *represented* when ‖W_i‖ > ``represented``. For hidden unit j, count the represented features
    with |W_ji| ≥ ``share`` · max_i |W_ji|; average over the units carrying at least one represented feature
    (NaN if none does). 1 = one feature per unit. Refused (ConfigError) for a linear code
    (``per_unit_code=False``), whose units are not a privileged basis: a rotated oracle would count ~6.
    """
    _per_unit_guard(per_unit_code, "features_per_unit")
    A = np.abs(_to_numpy(W, "W", ndim=(3,)))
    rep = np.linalg.norm(A, axis=1) > represented                          # (I, n)
    A = np.where(rep[:, None, :], A, 0.0)
    mx = A.max(-1, keepdims=True)                                           # (I, m, 1)
    counts = ((A >= share * mx) & (A > 0)).sum(-1)                          # (I, m)
    used = mx[..., 0] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(used.any(-1), (counts * used).sum(-1) / np.maximum(used.sum(-1), 1), np.nan)


def unit_feature_recovery(W: Any, *, per_unit_code: bool = True) -> np.ndarray:
    """Per instance, :func:`feature_recovery` of W's columns (the features' embeddings in R^m) against the
    one-hot basis of the hidden units: the mean over units of |cos| between the unit axis and the feature
    matched to it one to one. 1 = every unit is the axis of one feature. Refused for a linear code."""
    _per_unit_guard(per_unit_code, "unit_feature_recovery")
    W = _to_numpy(W, "W", ndim=(3,))
    eye = np.eye(W.shape[1])
    return np.array([feature_recovery(W[k].T, eye) for k in range(W.shape[0])])


def monosemantic_verdict(W: Any, per_unit_code) -> list[dict]:
    """The rule of :data:`MONOSEMANTIC_RULE` per instance of W (I, m, n); ``per_unit_code`` (I,) says which
    instances have a per-unit nonlinearity. Each entry: ``monosemantic`` (bool), ``basis`` ("per-unit" or
    "basis-free (linear code)") and the numbers it rests on (per-unit ones only for per-unit codes)."""
    w = _to_numpy(W, "W", ndim=(3,))
    flags = np.broadcast_to(np.asarray(per_unit_code, dtype=bool), (w.shape[0],))
    sup = superposition_measures(w)
    out = []
    for k in range(w.shape[0]):
        entry = {key: float(v[k]) for key, v in sup.items()}
        orthogonal = bool(entry["interference"] <= MAX_INTERFERENCE)      # NaN (nothing represented) → False
        if flags[k]:
            fpu = float(features_per_unit(w[k:k + 1])[0])
            rec = float(unit_feature_recovery(w[k:k + 1])[0])
            entry.update(features_per_unit=fpu, unit_feature_recovery=rec, basis="per-unit",
                         monosemantic=bool(orthogonal and fpu <= MAX_FEATURES_PER_UNIT and rec >= MIN_FEATURE_RECOVERY))
        else:
            entry.update(basis="basis-free (linear code)", monosemantic=orthogonal)
        out.append(entry)
    return out


def chance_level(y: Any, num_classes: int) -> np.ndarray:
    """Majority-class rate of each instance's labels, (I, N) → (I,): the accuracy of the best constant
    prediction (argmax with 41 nearly balanced classes: ≈ 1/C; the pair task at S = 0.8: P(y = 0) = 0.82)."""
    y = _to_numpy(y, "labels", ndim=(2,), dtype=None).astype(np.int64)
    counts = np.stack([np.bincount(row, minlength=num_classes) for row in y])
    return counts.max(-1) / y.shape[1]
