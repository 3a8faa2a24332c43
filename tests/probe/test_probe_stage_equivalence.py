"""run-imagenet's probe stage now runs through monotheory.probes.grid: same seed, same numbers as its old copy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.seeding import stream_seed
from monotheory.vision.config import ProbeConfig
from monotheory.vision.probe_stage import probe_lr, probe_method


def _old_probe_method(train, tests, num_classes, cfg, *, seed=0, device="cpu"):
    """Copy of the probe stage's probe_method before it delegated to monotheory.probes.grid.probe_grid (its label
    seeds now from the named stream ("label-noise", rate), as the stage's)."""
    from monotheory.noise import label_noise
    from monotheory.probes import LinearProbe

    def prepare(features, normalize):
        return F.normalize(features.float(), dim=1) if normalize else features.float()

    x_tr, y_tr = prepare(train[0], cfg.normalize_features), train[1].long()
    rows, correct, clean_probe = [], {}, None
    for rate in cfg.noise_rates:
        noisy = label_noise(y_tr, rate, num_classes, model=cfg.noise_model, sampling=cfg.noise_sampling,
                            seed=stream_seed(seed, "label-noise", f"{rate:g}"))
        y_noisy = torch.as_tensor(np.asarray(noisy.labels)).long()
        probe = LinearProbe(num_classes, solver=cfg.solver, lr=probe_lr(cfg), weight_decay=cfg.weight_decay,
                            epochs=cfg.epochs, batch_size=cfg.batch_size, device=device, random_state=seed)
        probe.fit(x_tr, y_noisy)
        row = {"noise_rate": rate, "realised_rate": float(noisy.realised_rate),
               "train_acc_noisy": float(probe.score(x_tr, y_noisy)),
               "train_acc_clean": float(probe.score(x_tr, y_tr)), "test_acc": {}}
        for key, (x_te, y_te) in tests.items():
            pred = torch.as_tensor(np.asarray(probe.predict(prepare(x_te, cfg.normalize_features)))).long()
            ok = (pred.cpu() == y_te.long().cpu()).numpy().astype(np.uint8)
            correct[(rate, key)] = ok
            row["test_acc"][key] = float(ok.mean()) if ok.size else float("nan")
        rows.append(row)
        if rate == 0.0 or clean_probe is None and rate == min(cfg.noise_rates):
            clean_probe = probe
    return rows, correct, clean_probe


def test_probe_stage_numbers_unchanged():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(240) % 4
    x = torch.randn(240, 12, generator=g) + 1.5 * F.one_hot(y, 12).float()
    train, tests = (x[:160], y[:160]), {"0": (x[160:], y[160:]), "0.6": (x[160:] + 0.6 * torch.randn(80, 12,
                                                                                             generator=g), y[160:])}
    for cfg in (ProbeConfig(epochs=3, noise_rates=(0.0, 0.3, 0.9), batch_size=64),
                ProbeConfig(solver="lbfgs", lr=1.0, noise_rates=(0.3, 0.6), normalize_features=True,
                            noise_sampling="bernoulli")):
        new_rows, new_corr, new_probe = probe_method(train, tests, 4, cfg, seed=7)
        old_rows, old_corr, old_probe = _old_probe_method(train, tests, 4, cfg, seed=7)
        assert new_rows == old_rows
        assert new_corr.keys() == old_corr.keys()
        assert all(np.array_equal(new_corr[k], old_corr[k]) for k in old_corr)
        assert np.array_equal(new_probe.coef_, old_probe.coef_)


def test_extract_seeds_each_batch_from_a_named_stream():
    from monotheory.noise import input_noise
    from monotheory.vision.features import extract

    imgs = torch.randn(10, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    ds = torch.utils.data.TensorDataset(imgs, torch.arange(10) % 2)
    feats, ys = extract(lambda z: z.flatten(1), ds, batch_size=4, sigma=0.5, seed=3, progress=False)
    want = torch.cat([input_noise(imgs[i:i + 4], 0.5, seed=stream_seed(3, "input-noise", "0.5", b)).flatten(1)
                      for b, i in enumerate(range(0, 10, 4))])
    assert torch.equal(feats, want) and torch.equal(ys, torch.arange(10) % 2)


def test_profile_of_a_run_imagenet_feature_cache(cli, tmp_path):
    """`--run DIR` profiles the cached features the probe stage left (here written by hand in its format)."""
    g = torch.Generator().manual_seed(0)
    feats = tmp_path / "run" / "features"
    feats.mkdir(parents=True)
    y_tr, y_va = torch.arange(120) % 3, torch.arange(60) % 3
    for enc, shift in (("cl", 0.0), ("ncl", 1.0)):
        for split, y, sig in (("train", y_tr, "0"), ("val", y_va, "0"), ("val", y_va, "0.2")):
            x = torch.randn(len(y), 8, generator=g) + 2 * F.one_hot(y, 8).float() + shift
            torch.save({"features": x, "targets": y}, feats / f"{enc}_{split}_s{sig}_0123456789abcdef.pt")
    rc, out, err = cli("probe", "--run", str(tmp_path / "run"), "--noise-rates", "0,0.3", "--sigmas", "0,0.2,0.6",
                       "--json")
    assert rc == 0, err
    prof = __import__("json").loads(out)
    assert list(prof["feature_sets"]) == ["cl", "ncl"]
    assert prof["conditions"]["tests"] == ["clean", "σ=0.2"]          # σ = 0.6 was not cached
    assert any("0.6" in m for m in prof["conditions"]["missing"]) and any("sae" in m for m in prof["conditions"]["missing"])
    (comp,) = prof["comparisons"]
    assert (comp["a"], comp["b"]) == ("ncl", "cl") and len(comp["cells"]) == 4
