"""Data loading: every error path names its problem; few-shot splits are stratified and seeded."""

from __future__ import annotations

import logging
import pickle
import shutil

import numpy as np
import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.vision import data as D


def _load(root, **kw):
    ev = D.eval_transform(32)
    return D.load_datasets("folder", root, train_transform=ev, eval_transform=ev, **kw)


# -------------------------------------------------------------------------------------------------- loading


def test_folder_loads_with_shared_indices(tiny_folder):
    train, val, names = _load(tiny_folder)
    assert names == ["c0", "c1", "c2", "c3"]
    assert train.classes == val.classes == names
    assert len(train) == 48 and len(val) == 24
    assert np.bincount(train.targets).tolist() == [12] * 4 and np.bincount(val.targets).tolist() == [6] * 4
    x, y = val[7]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == val.targets[7] == 1
    assert train.skipped_files == [] and val.skipped_files == []
    pickle.dumps(train)  # DataLoader workers need picklable datasets


def test_classes_argument_fixes_order_and_subset(tiny_folder):
    train, val, names = _load(tiny_folder, classes=["c3", "c1"])
    assert names == train.classes == ["c3", "c1"]
    # c3 → index 0, c1 → index 1 in both splits, read back from the file paths
    for ds in (train, val):
        for path, t in ds.samples:
            assert path.split("/")[-2] == names[t]


def test_normalization_and_transforms():
    assert D.normalization("imagenet100") == (D.IMAGENET_MEAN, D.IMAGENET_STD)
    assert D.normalization("folder") == (D.IMAGENET_MEAN, D.IMAGENET_STD)
    assert D.normalization("cifar100") == (D.CIFAR100_MEAN, D.CIFAR100_STD)
    with pytest.raises(ConfigError, match="dataset = 'svhn' is unknown"):
        D.normalization("svhn")
    from PIL import Image

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8))
    v1, v2 = D.simclr_transform(64)(img)
    assert v1.shape == v2.shape == (3, 64, 64) and not torch.equal(v1, v2)
    big = D.eval_transform(96)(img)
    assert big.shape == (3, 96, 96)
    assert torch.equal(big, D.eval_transform(96)(img))  # deterministic
    raw = D.eval_transform(32, mean=None)(img)
    assert raw.min() >= 0 and raw.max() <= 1
    norm = D.eval_transform(32)(img)
    mean = torch.tensor(D.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(D.IMAGENET_STD)[:, None, None]
    assert torch.allclose(norm, (raw - mean) / std, atol=1e-6)


def test_imagenet100_ids_and_fake_root(tmp_path, make_folder):
    ids = D.imagenet100_classes()
    assert len(ids) == 100 == len(set(ids)) and all(i.startswith("n") and len(i) == 9 for i in ids)
    root = make_folder(tmp_path / "in100", ids[:3] + ["n99999999"], (3, 2), size=16)
    train, val, names = D.load_datasets("imagenet100", root, train_transform=None, eval_transform=None,
                                        classes=ids[:3])
    assert names == ids[:3] and len(train) == 9 and len(val) == 6  # the extra folder is ignored
    with pytest.raises(ConfigError, match=r"97 of the 100 ImageNet-100 classes are missing .*train.*"
                                          + ids[3]):
        D.load_datasets("imagenet100", root)
    with pytest.raises(ConfigError, match="1 requested classes are not ImageNet-100 WordNet ids: n99999999"):
        D.load_datasets("imagenet100", root, classes=["n99999999"])


def test_extra_imagenet_folders_are_logged(tmp_path, make_folder, caplog):
    ids = D.imagenet100_classes()
    root = make_folder(tmp_path / "in100", ids[:2] + ["junk"], 1, size=8)
    with caplog.at_level(logging.INFO, logger="monotheory.vision.folders"):
        D.load_datasets("imagenet100", root, classes=ids[:2])
    assert "ignoring 1 extra class folder" in caplog.text


# ------------------------------------------------------------------------------------------------ error paths


def test_missing_root(tmp_path):
    with pytest.raises(ConfigError, match="data root .*nowhere does not exist"):
        _load(tmp_path / "nowhere")


def test_missing_val_folder(tmp_path, make_folder):
    root = make_folder(tmp_path / "r", 2, 2, size=8, split_names=("train",))
    with pytest.raises(ConfigError, match="has no val/ folder"):
        _load(root)


def test_missing_and_extra_val_classes(tmp_path, make_folder):
    root = make_folder(tmp_path / "r", 3, 2, size=8)
    shutil.rmtree(root / "val" / "c2")
    with pytest.raises(ConfigError, match=r"1 train classes have no folder in .*val: c2"):
        _load(root)
    make_folder(tmp_path / "r", ["c0", "c1", "c2", "zz"], 1, size=8, split_names=("val",))
    with pytest.raises(ConfigError, match=r"val has 1 class folders not in .*train: zz"):
        _load(root)
    train, _, names = _load(root, classes=["c0", "c1"])  # an explicit class list ignores extras
    assert names == ["c0", "c1"] and len(train) == 4
    with pytest.raises(ConfigError, match="1 of the 2 requested classes are missing .*: nope"):
        _load(root, classes=["c0", "nope"])


def test_empty_class_folder(tmp_path, make_folder):
    root = make_folder(tmp_path / "r", 2, 2, size=8)
    (root / "train" / "c9").mkdir()
    (root / "val" / "c9").mkdir()
    with pytest.raises(ConfigError, match=r"class folder .*train/c9 has no readable images"):
        _load(root)


def test_corrupt_image(tmp_path, make_folder):
    root = make_folder(tmp_path / "r", 2, 3, size=8)
    bad = root / "train" / "c1" / "zz_bad.png"
    bad.write_bytes(b"this is not a png")
    train, _, _ = _load(root)
    assert len(train) == 7
    i = [p for p, _ in train.samples].index(str(bad))
    with pytest.raises(ConfigError, match=r"cannot read image file .*zz_bad\.png"):
        train[i]
    loader = D.make_loader(train, 8, shuffle=False, num_workers=1)  # raised in a worker: still one sentence
    with pytest.raises(ConfigError) as info:
        next(iter(loader))
    assert str(info.value).startswith("cannot read image file") and "\n" not in str(info.value)
    assert "zz_bad.png" in str(info.value)
    train, val, _ = _load(root, skip_bad_images=True)
    assert len(train) == 6 and train.skipped_files == [str(bad)] and val.skipped_files == []
    assert np.bincount(train.targets).tolist() == [3, 3]
    for k in range(len(train)):
        train[k]
    # a class whose only image is bad becomes empty → clear error
    for p in (root / "val" / "c0").iterdir():
        p.write_bytes(b"junk")
    with pytest.raises(ConfigError, match=r"class folder .*val/c0 has no readable images"):
        _load(root, skip_bad_images=True)


def test_cifar100_missing(tmp_path):
    with pytest.raises(ConfigError, match="CIFAR-100 not found.*never downloads"):
        D.load_datasets("cifar100", tmp_path)


def test_unknown_dataset(tmp_path):
    with pytest.raises(ConfigError, match="dataset = 'mnist' is unknown"):
        D.load_datasets("mnist", tmp_path)


# -------------------------------------------------------------------------------------------------- few-shot


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, float("nan")])
def test_bad_few_shot_fraction(fraction):
    with pytest.raises(ConfigError, match="few_shot_fraction"):
        D.few_shot_indices([0, 1, 1], fraction, 0)


def test_few_shot_is_stratified_and_seeded():
    rng = np.random.default_rng(1)
    counts = np.array([50, 20, 7, 1, 100])
    y = rng.permutation(np.repeat(np.arange(5), counts))
    for frac in (0.1, 0.2, 0.5):
        idx = D.few_shot_indices(y, frac, seed=3)
        assert len(np.unique(idx)) == len(idx) and np.all(np.diff(idx) > 0)
        got = np.bincount(y[idx], minlength=5)
        assert got.tolist() == np.maximum(1, np.round(frac * counts)).astype(int).tolist()
        assert np.array_equal(idx, D.few_shot_indices(y, frac, seed=3))
        assert not np.array_equal(idx, D.few_shot_indices(y, frac, seed=4))
    assert np.array_equal(D.few_shot_indices(y, 1.0, seed=0), np.arange(len(y)))


def test_few_shot_is_uniform_within_class():
    # each of the 20 samples of one class is kept with probability 5/20 over seeds; a biased choice
    # (e.g. always the first indices) would be caught. 400 seeds: SE of a share = sqrt(.25·.75/400) ≈ .022;
    # z = 4.5 over 20 cells keeps the false-alarm rate below 1e-4.
    y = np.repeat([0, 1], 20)
    hits = np.zeros(40)
    for s in range(400):
        hits[D.few_shot_indices(y, 0.25, seed=s)] += 1
    share = hits / 400
    se = np.sqrt(0.25 * 0.75 / 400)
    assert np.all(np.abs(share - 0.25) < 4.5 * se)


def test_subset_and_loader(tiny_folder):
    train, _, _ = _load(tiny_folder)
    idx = D.few_shot_indices(train.targets, 0.25, 0)
    sub = D.subset(train, idx)
    assert sub.classes == train.classes and sub.targets == [train.targets[i] for i in idx]
    a = [y.tolist() for _, y in D.make_loader(sub, 4, shuffle=True, seed=5)]
    b = [y.tolist() for _, y in D.make_loader(sub, 4, shuffle=True, seed=5)]
    assert a == b and sorted(sum(a, [])) == sorted(sub.targets)
    loader = D.make_loader(sub, 5, shuffle=False, drop_last=True, device="cpu")
    assert not loader.pin_memory and len(loader) == len(sub) // 5


def test_truncated_jpeg_is_skipped(tmp_path, make_folder):
    from PIL import Image

    root = make_folder(tmp_path / "r", 2, 2, size=8)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    img.save(root / "train" / "c0" / "full.jpg", quality=90)
    data = (root / "train" / "c0" / "full.jpg").read_bytes()
    (root / "train" / "c0" / "cut.jpg").write_bytes(data[: len(data) // 2])  # passes PIL verify() alone
    train, _, _ = _load(root, skip_bad_images=True)
    assert [p.split("/")[-1] for p in train.skipped_files] == ["cut.jpg"] and len(train) == 5


def _fake_cifar100(root, n_train=30, n_test=10):
    """CIFAR-100's python pickles with random pixels (3 fine classes used); checksums will not match."""
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"class{i:02d}" for i in range(100)]
    for split, n in (("train", n_train), ("test", n_test)):
        entry = {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), "fine_labels": [i % 3 for i in range(n)]}
        (d / split).write_bytes(pickle.dumps(entry))
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": names}))
    return names


def test_cifar100_from_local_files(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    names = _fake_cifar100(tmp_path)
    with pytest.raises(ConfigError, match="CIFAR-100 files under .* are missing or corrupt"):
        D.load_datasets("cifar100", tmp_path)  # the checksums of the fake files do not match
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    ev = D.eval_transform(32, *D.normalization("cifar100"))
    train, val, got = D.load_datasets("cifar100", tmp_path / "cifar-100-python", train_transform=ev,
                                      eval_transform=ev)
    assert got == names and len(train) == 30 and len(val) == 10 and train.classes == val.classes == names
    assert train[0][0].shape == (3, 32, 32) and train.skipped_files == []
    train, val, got = D.load_datasets("cifar100", tmp_path, classes=["class02", "class00"])
    assert got == ["class02", "class00"] and len(train) == 20 and len(val) == 7
    assert sorted(set(train.targets)) == [0, 1] and train.targets[0] == 1  # sample 0 was class00 → index 1
    with pytest.raises(ConfigError, match="1 requested classes are not CIFAR-100 classes: dog"):
        D.load_datasets("cifar100", tmp_path, classes=["dog"])


@pytest.mark.parametrize("classes", [[], ["c0", "c0"]])
def test_bad_class_list(tiny_folder, classes):
    with pytest.raises(ConfigError, match="the class list must be non-empty and without duplicates"):
        _load(tiny_folder, classes=classes)


def test_one_list_of_data_sets():
    """The data sets are listed once (vision.config); the data modules use that list."""
    from monotheory.vision import config, data, folders

    assert data.DATASETS is config.DATASETS and folders.DATASETS is config.DATASETS
