"""Linear probes: known rules, agreement with scikit-learn, solver agreement, batched vs single, input types,
early stopping, standardisation and errors. Problems are tiny so the whole file runs in a few seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from monotheory.errors import ConfigError
from monotheory.probes import BatchedLinearProbe, LinearProbe, batched_lbfgs


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are tiny: on a shared 2-core machine, intra-op threads only add contention (10× slower
    measured). Restored afterwards so other test modules keep their setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def softmax_data(n=300, d=5, c=3, seed=0):
    """Labels drawn from a true multinomial-logit model (Gumbel-max), so the classes overlap."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((c, d))
    y = (X @ W.T + rng.gumbel(size=(n, c))).argmax(1)
    return X, y


def separable_data(n=400, d=10, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    s = X @ w / np.linalg.norm(w)
    keep = np.abs(s) > 0.2                                                   # a margin of 0.2
    return X[keep], (s[keep] > 0).astype(int), w


# ------------------------------------------------------------------------------------------ correctness


def test_recovers_known_linear_rule():
    X, y, w = separable_data()
    p = LinearProbe(weight_decay=1e-3).fit(X, y)
    assert p.score(X, y) == 1.0
    direction = p.coef_[1] - p.coef_[0]
    cos = direction @ w / (np.linalg.norm(direction) * np.linalg.norm(w))
    assert cos > 0.95
    # a fresh sample from the same rule: the margin keeps it separable, the fitted rule must carry over
    rng = np.random.default_rng(9)
    Xn = rng.standard_normal((2000, 10))
    sn = Xn @ w / np.linalg.norm(w)
    Xn, yn = Xn[np.abs(sn) > 0.2], (sn[np.abs(sn) > 0.2] > 0).astype(int)
    assert p.score(Xn, yn) > 0.95


def test_matches_sklearn_logistic_regression():
    X, y = softmax_data()
    c_inv = 1.0
    sk = LogisticRegression(C=c_inv, tol=1e-10, max_iter=10_000).fit(X, y)
    p = LinearProbe(weight_decay=1 / (c_inv * len(y)), dtype=torch.float64, tol=1e-9).fit(X, y)
    np.testing.assert_array_equal(p.predict(X), sk.predict(X))
    np.testing.assert_allclose(p.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(p.coef_, sk.coef_, atol=1e-4)
    assert p.score(X, y) == pytest.approx(sk.score(X, y))


def test_wrong_weight_decay_convention_is_caught():
    """Penalising with λ instead of λ/2 (or forgetting 1/N) visibly changes the fit: the sklearn match
    above therefore pins the convention."""
    X, y = softmax_data()
    sk = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
    wrong = LinearProbe(weight_decay=2 / len(y), dtype=torch.float64).fit(X, y)
    assert np.abs(wrong.coef_ - sk.coef_).max() > 1e-2


@pytest.mark.parametrize("solver, lr", [("sgd", 0.1), ("adam", 0.05)])
def test_minibatch_solvers_reach_the_lbfgs_optimum(solver, lr):
    X, y = softmax_data()
    wd = 1 / len(y)
    ref = LinearProbe(weight_decay=wd, dtype=torch.float64, tol=1e-9).fit(X, y)
    p = LinearProbe(solver=solver, lr=lr, weight_decay=wd, epochs=60, batch_size=64,
                    dtype=torch.float64).fit(X, y)
    assert p.n_iter_ == 60 and len(p.history_) == 60
    assert p.history_[-1]["lr"] == pytest.approx(0.0, abs=1e-12)           # cosine schedule ends at 0
    # objective within 1e-3 nats of the optimum (SGD noise with a decayed lr), same predictions mostly
    assert p.history_[-1]["loss"] - ref.history_[-1]["loss"] < 1e-3
    assert p.history_[-1]["loss"] >= ref.history_[-1]["loss"] - 1e-9
    assert (p.predict(X) == ref.predict(X)).mean() > 0.97


def test_numpy_and_torch_inputs_agree_and_classes_are_kept():
    X, y = softmax_data(seed=2)
    labels = np.array([3, 7, 9])[y]
    a = LinearProbe(solver="sgd", epochs=5).fit(X.astype(np.float32), labels)
    b = LinearProbe(solver="sgd", epochs=5).fit(torch.tensor(X, dtype=torch.float32), torch.tensor(labels))
    np.testing.assert_array_equal(a.classes_, [3, 7, 9])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-6)
    assert set(np.unique(a.predict(X))) <= {3, 7, 9}
    assert a.predict(torch.tensor(X)).dtype.kind == "i"
    assert a.predict_proba(X).shape == (len(y), 3)
    np.testing.assert_allclose(a.predict_proba(X).sum(1), 1, atol=1e-5)
    assert a.decision_function(X).shape == (len(y), 3)


def test_deterministic_given_random_state():
    X, y = softmax_data(seed=3)
    fits = [LinearProbe(solver="sgd", epochs=3, random_state=s).fit(X, y).coef_ for s in (1, 1, 2)]
    np.testing.assert_array_equal(fits[0], fits[1])
    assert not np.array_equal(fits[0], fits[2])


def test_num_classes_allows_absent_classes():
    X, y = softmax_data(c=3)
    p = LinearProbe(num_classes=5).fit(X, y)
    assert p.coef_.shape == (5, X.shape[1]) and p.intercept_.shape == (5,)
    assert set(np.unique(p.predict(X))) <= {0, 1, 2}


def test_standardize_gives_raw_space_coefficients():
    X, y = softmax_data(seed=4)
    scaled = X * np.array([1000.0, 1, 0.001, 1, 1]) + 50
    p = LinearProbe(standardize=True, weight_decay=1e-2, dtype=torch.float64).fit(scaled, y)
    mu, sd = scaled.mean(0), scaled.std(0)
    q = LinearProbe(weight_decay=1e-2, dtype=torch.float64).fit((scaled - mu) / sd, y)
    np.testing.assert_allclose(p.decision_function(scaled), q.decision_function((scaled - mu) / sd), atol=1e-6)


def test_early_stopping_stops_on_unlearnable_labels():
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((400, 5)), rng.integers(0, 4, 400)          # labels independent of X
    p = LinearProbe(solver="sgd", lr=0.5, epochs=100, early_stopping=True, patience=3).fit(X, y)
    assert p.n_iter_ < 100
    assert all("val_acc" in h for h in p.history_)
    best = max(h["val_acc"] for h in p.history_)
    assert [h["val_acc"] for h in p.history_[-3:]] and max(h["val_acc"] for h in p.history_[-3:]) <= best
    # the restored weights are the best epoch's: validation accuracy of the final model equals the best
    assert p.history_.index(max(p.history_, key=lambda h: h["val_acc"])) == len(p.history_) - 4


def test_lbfgs_early_stopping_works_in_blocks_of_iterations():
    """Ill-conditioned features (scales 1e-2 … 1e2) keep L-BFGS busy for its whole budget without early
    stopping; with it, the fit stops once the validation accuracy stalls for ``patience`` blocks."""
    rng = np.random.default_rng(8)
    scale = np.logspace(-2, 2, 40)
    X = rng.standard_normal((600, 40)) * scale
    y = (X / scale @ rng.standard_normal((3, 40)).T + 2 * rng.gumbel(size=(600, 3))).argmax(1)
    full = LinearProbe(max_iter=400, weight_decay=1e-5).fit(X, y)
    assert full.n_iter_ == 400 and len(full.history_) == 20
    p = LinearProbe(max_iter=400, weight_decay=1e-5, early_stopping=True, patience=2, progress=True).fit(X, y)
    assert p.n_iter_ < 400 and all("val_acc" in h for h in p.history_)


def test_lbfgs_history_and_convergence():
    X, y = softmax_data()
    p = LinearProbe(weight_decay=1e-2, max_iter=500).fit(X, y)
    assert 0 < p.n_iter_ < 500 and p.history_[-1]["train_acc"] == pytest.approx(p.score(X, y))


# ----------------------------------------------------------------------------------------------- batched


def batched_data(inst=4, n=200, d=5, c=3, seed=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((inst, n, d))
    W = rng.standard_normal((inst, c, d)) * 2
    y = (np.einsum("ind,icd->inc", X, W) + rng.gumbel(size=(inst, n, c))).argmax(-1)
    return X, y


def test_batched_lbfgs_matches_single_probes():
    X, y = batched_data()
    bp = BatchedLinearProbe(3, weight_decay=1e-2, dtype=torch.float64, tol=1e-9, max_iter=1000).fit(X, y)
    assert bp.coef_.shape == (4, 3, 5) and bp.intercept_.shape == (4, 3)
    scores = bp.score(X, y)
    assert scores.shape == (4,)
    for i in range(4):
        single = LinearProbe(3, weight_decay=1e-2, dtype=torch.float64, tol=1e-9).fit(X[i], y[i])
        np.testing.assert_allclose(bp.coef_[i], single.coef_, atol=1e-4)
        assert scores[i] == pytest.approx(single.score(X[i], y[i]))


def test_batched_lbfgs_instances_are_independent():
    X, y = batched_data()
    kw = dict(weight_decay=1e-3, dtype=torch.float64, max_iter=200)
    a = BatchedLinearProbe(3, **kw).fit(X, y)
    X2, y2 = X.copy(), y.copy()
    X2[0] *= 10                                                             # a much harder instance 0
    y2[0] = np.random.default_rng(1).integers(0, 3, y.shape[1])
    b = BatchedLinearProbe(3, **kw).fit(X2, y2)
    np.testing.assert_allclose(b.coef_[1:], a.coef_[1:], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b.n_iter_per_instance_[1:], a.n_iter_per_instance_[1:])
    assert not np.allclose(b.coef_[0], a.coef_[0])


def test_softmax_lbfgs_blocks_of_instances_give_the_same_fits():
    """Instances are solved in cache-sized blocks: the block size changes nothing but rounding."""
    from monotheory.lbfgs import softmax_lbfgs

    X, y = batched_data()
    Xt, yt = torch.from_numpy(X).double(), torch.from_numpy(y)
    one = softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200)
    for block in (1, 3):
        W, b, iters = softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200, block=block)
        np.testing.assert_allclose(W.numpy(), one[0].numpy(), atol=1e-9)
        np.testing.assert_allclose(b.numpy(), one[1].numpy(), atol=1e-9)
        np.testing.assert_array_equal(iters, one[2])


def test_softmax_lbfgs_unshifted_exp_agrees_with_the_shifted_softmax(monkeypatch):
    """Logits bounded by ‖A_c‖·max‖x̃‖ ≤ 64 are exponentiated without the per-sample max shift; forcing the
    shift everywhere (bound 0) must give the same fits up to rounding, and large features (logits far above
    64, where only the shifted path is safe) must still give finite fits that match LinearProbe."""
    import monotheory.lbfgs as lb

    X, y = batched_data()
    Xt, yt = torch.from_numpy(X).double(), torch.from_numpy(y)
    fast = lb.softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200)
    monkeypatch.setattr(lb, "_NO_SHIFT_BOUND", 0.0)
    shifted = lb.softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200)
    np.testing.assert_allclose(fast[0].numpy(), shifted[0].numpy(), atol=1e-8)
    np.testing.assert_allclose(fast[1].numpy(), shifted[1].numpy(), atol=1e-8)
    monkeypatch.undo()
    big = 50.0 * X
    bp = BatchedLinearProbe(3, weight_decay=1e-2, dtype=torch.float64, tol=1e-9, max_iter=1000).fit(big, y)
    assert np.isfinite(bp.coef_).all()
    for i in range(len(X)):
        single = LinearProbe(3, weight_decay=1e-2, dtype=torch.float64, tol=1e-9).fit(big[i], y[i])
        np.testing.assert_allclose(bp.coef_[i], single.coef_, atol=1e-4)


def test_armijo_rejects_a_step_that_changes_nothing_in_float32():
    """f + c₁·t·slope rounds to f when the required decrease is below half an ulp: the test must be done on the
    difference, or a float32 step that changes nothing passes and ends the fit early."""
    from monotheory.lbfgs import _armijo

    f0 = torch.tensor([2.8201, 2.8201], dtype=torch.float32)
    new = torch.tensor([2.8201, 2.8200], dtype=torch.float32)
    ok = _armijo(new, f0, torch.ones(2), torch.tensor([-3e-4, -3e-4]))
    assert ok.tolist() == [False, True]


def test_softmax_lbfgs_tol_change_stops_on_the_value_change():
    """tol_change is an absolute tolerance on the change of the value (torch LBFGS's tolerance_change):
    infinite stops every instance after one iteration; zero lets them run to the gradient tolerance."""
    from monotheory.lbfgs import softmax_lbfgs

    X, y = batched_data()
    Xt, yt = torch.from_numpy(X).double(), torch.from_numpy(y)
    _, _, one = softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200, tol_change=float("inf"))
    assert (one == 1).all()
    _, _, full = softmax_lbfgs(Xt, yt, 3, weight_decay=1e-3, max_iter=200, tol=1e-9, tol_change=0.0)
    assert (full > 1).all() and (full < 200).all()


def test_batched_lbfgs_solves_differently_scaled_problems():
    """Rosenbrock functions scaled by 1, 1e3 and 1e-3 (a classic hard non-convex case), solved together: each
    instance reaches its minimum (1, 1) with its own line search and stopping rule."""
    scale = torch.tensor([1.0, 1e3, 1e-3], dtype=torch.float64)

    def rosen(th, idx):
        return scale[idx] * ((1 - th[:, 0]) ** 2 + 100 * (th[:, 1] - th[:, 0] ** 2) ** 2)

    theta, iters = batched_lbfgs(rosen, torch.tensor([[-1.2, 1.0]] * 3, dtype=torch.float64),
                                 max_iter=500, tol=1e-10)
    np.testing.assert_allclose(theta.numpy(), np.ones((3, 2)), atol=1e-5)
    assert (iters < 500).all()


def test_batched_adam_matches_single_probes_and_instances_are_independent():
    X, y = batched_data()
    kw = dict(solver="adam", lr=0.1, weight_decay=1e-2, max_iter=600, dtype=torch.float64)
    bp = BatchedLinearProbe(3, **kw).fit(X, y)
    ref = LinearProbe(3, weight_decay=1e-2, dtype=torch.float64, tol=1e-9).fit(X[1], y[1])
    np.testing.assert_allclose(bp.coef_[1], ref.coef_, atol=1e-3)
    kw["max_iter"] = 30                                                     # independence holds at any step
    bp = BatchedLinearProbe(3, **kw).fit(X, y)
    X2 = X.copy()
    X2[0] = np.random.default_rng(0).standard_normal(X[0].shape)           # change instance 0 only
    bp2 = BatchedLinearProbe(3, **kw).fit(X2, y)
    np.testing.assert_array_equal(bp2.coef_[1:], bp.coef_[1:])
    assert not np.array_equal(bp2.coef_[0], bp.coef_[0])


def test_batched_types_shared_labels_and_minibatches():
    X, y = batched_data(inst=2)
    bp = BatchedLinearProbe(3, solver="adam", lr=0.1, batch_size=50, epochs=5).fit(torch.tensor(X), y)
    pred = bp.predict(torch.tensor(X))
    assert isinstance(pred, torch.Tensor) and pred.shape == (2, 200)
    assert isinstance(bp.predict(X), np.ndarray)
    assert bp.n_iter_ == 5 * 4
    shared = BatchedLinearProbe(3, max_iter=50).fit(X, y[0])                # (N,) labels shared
    np.testing.assert_array_equal(shared.score(X, y[0]), shared.score(X, np.stack([y[0], y[0]])))


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("X, y, kwargs, match", [
    (np.zeros((4, 2)), [0, 1, 0], {}, "one label per row"),
    (np.zeros((4, 2)), [1, 1, 1, 1], {}, "at least 2"),
    (np.array([[np.nan, 0.0], [1.0, 1.0]]), [0, 1], {}, "NaN"),
    (np.zeros(4), [0, 1, 0, 1], {}, "shape"),
    (np.zeros((4, 2)), [0.0, 1.5, 0.0, 1.0], {}, "continuous"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"solver": "newton"}, "solver"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"lr": 0.0}, "lr"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"weight_decay": -1}, "weight_decay"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"num_classes": 1}, "num_classes"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"validation_fraction": 1.0}, "validation_fraction"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"dtype": "int64"}, "dtype"),
    (np.zeros((4, 2)), [0, 1, 5, 1], {"num_classes": 3}, "outside"),
    (np.zeros((4, 2)), [0, 1, 0, 1], {"early_stopping": True, "validation_fraction": 0.01}, "validation"),
])
def test_fit_errors(X, y, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LinearProbe(**kwargs).fit(X, y)


def test_prediction_errors():
    with pytest.raises(ConfigError, match="not fitted"):
        LinearProbe().predict(np.zeros((2, 2)))
    X, y = softmax_data()
    p = LinearProbe(max_iter=5).fit(X, y)
    with pytest.raises(ConfigError, match="features"):
        p.predict(np.zeros((2, 3)))
    bp = BatchedLinearProbe(3, max_iter=5).fit(*batched_data(inst=2))
    with pytest.raises(ConfigError, match="shape"):
        bp.predict(np.zeros((3, 10, 5)))
    with pytest.raises(ConfigError, match="outside"):
        BatchedLinearProbe(2).fit(*batched_data(inst=2))
    with pytest.raises(ConfigError, match="solver"):
        BatchedLinearProbe(3, solver="sgd")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X, y = softmax_data()
    cpu = LinearProbe(weight_decay=1e-2).fit(X, y)
    gpu = LinearProbe(weight_decay=1e-2, device="cuda").fit(X, y)
    np.testing.assert_allclose(cpu.coef_, gpu.coef_, atol=1e-3)
    assert gpu.score(torch.tensor(X, device="cuda"), y) == pytest.approx(cpu.score(X, y))
