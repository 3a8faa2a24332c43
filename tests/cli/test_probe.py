"""Bad input to `monotheory probe`: one line on stderr naming the problem, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

GOOD_X = np.random.default_rng(0).normal(size=(30, 5))
GOOD_Y = np.arange(30) % 3


def _npz(path, X, y):
    np.savez(path, X=X, y=y)
    return str(path)


def _bad_train(kind: str):
    X, y = GOOD_X.copy(), GOOD_Y.copy()
    if kind == "lengths":
        return X, y[:-1]
    if kind == "nan":
        X[3, 2] = np.nan
        return X, y
    if kind == "inf":
        X[0, 0] = np.inf
        return X, y
    if kind == "single class":
        return X, np.zeros(30, int)
    if kind == "float labels":
        return X, y + 0.5
    if kind == "labels not 0..C-1":
        return X, y * 2
    if kind == "negative labels":
        return X, y - 1
    raise AssertionError(kind)


CASES = {  # bad input → a word the message must contain
    "lengths": "labels", "nan": "NaN", "inf": "infinite", "single class": "2 classes",
    "float labels": "integer", "labels not 0..C-1": "0..C−1", "negative labels": "0..C−1",
}


def _assert_refused(rc, out, err, out_dir, word):
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert word in err, err
    assert not out_dir.exists()


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_training_file(cli, tmp_path, kind):
    tr = _npz(tmp_path / "tr.npz", *_bad_train(kind))
    te = _npz(tmp_path / "te.npz", GOOD_X, GOOD_Y)
    _assert_refused(*cli("probe", "--train", tr, "--test", te, "--out", str(tmp_path / "o")), tmp_path / "o",
                    CASES[kind])


def test_widths_differ(cli, tmp_path):
    tr = _npz(tmp_path / "tr.npz", GOOD_X, GOOD_Y)
    te = _npz(tmp_path / "te.npz", GOOD_X[:, :4], GOOD_Y)
    _assert_refused(*cli("probe", "--train", tr, "--test", te, "--out", str(tmp_path / "o")), tmp_path / "o", "width")


def test_test_labels_outside_training_classes(cli, tmp_path):
    tr = _npz(tmp_path / "tr.npz", GOOD_X, GOOD_Y)
    te = _npz(tmp_path / "te.npz", GOOD_X, GOOD_Y + 1)
    _assert_refused(*cli("probe", "--train", tr, "--test", te, "--out", str(tmp_path / "o")), tmp_path / "o",
                    "outside the training classes")


@pytest.mark.parametrize("spec,word", [("sae-topk:6", "exceeds"), ("sae-topk:x", "not an integer"),
                                       ("pca", "unknown")])
def test_bad_mono_spec(cli, tmp_path, spec, word):
    tr = _npz(tmp_path / "tr.npz", GOOD_X, GOOD_Y)
    te = _npz(tmp_path / "te.npz", GOOD_X, GOOD_Y)
    _assert_refused(*cli("probe", "--train", tr, "--test", te, "--mono", spec, "--out", str(tmp_path / "o")),
                    tmp_path / "o", word)


@pytest.mark.parametrize("args,word", [
    ((), "exactly one input"),
    (("--train", "missing.npz", "--test", "missing.npz"), "does not exist"),
    (("--train", "x.npz"), "both --train and --test"),
    (("--encoder", "torchvision:resnet18"), "both --encoder and --data-root"),
    (("--noise-rates", "0,1.5", "--run", "r"), "noise_rate"),
])
def test_bad_invocation(cli, tmp_path, args, word):
    _assert_refused(*cli("probe", *args, "--out", str(tmp_path / "o")), tmp_path / "o", word)


@pytest.mark.parametrize("spec,word", [
    ("torchvision:no_such_net", "does not resolve"),
    ("no_such_module_xyz:make", "does not resolve"),
    ("monotheory.probe.api:no_such_factory", "does not resolve"),
    ("not a spec", "does not resolve"),
])
def test_encoder_spec_that_does_not_resolve(cli, tmp_path, spec, word):
    root = tmp_path / "root"
    (root / "train" / "a").mkdir(parents=True)
    _assert_refused(*cli("probe", "--encoder", spec, "--data-root", str(root), "--out", str(tmp_path / "o")),
                    tmp_path / "o", word)


def test_weights_that_do_not_fit(cli, tmp_path):
    from torchvision.models import resnet34

    w = tmp_path / "w.pt"
    torch.save(resnet34(weights=None).state_dict(), w)
    root = tmp_path / "root"
    (root / "train" / "a").mkdir(parents=True)
    _assert_refused(*cli("probe", "--encoder", "torchvision:resnet18", "--weights", str(w), "--data-root",
                         str(root), "--out", str(tmp_path / "o")), tmp_path / "o", "does not fit")
