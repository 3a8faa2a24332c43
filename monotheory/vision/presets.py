"""The presets of ``run-imagenet``: ``paper`` (built from the authors' settings), ``smoke`` and ``digits``.

``paper`` takes every ``set`` rule's value of :mod:`monotheory.vision.authors` (their CIFAR-100 record for
``cifar100``, their ImageNet-100 one otherwise) and adds every ``grid`` value to monotheory's list, but for the
entries of :data:`KEEP_OURS`, which the differences table names. Imports no torch.
"""

from __future__ import annotations

from monotheory.config import check_choice
from monotheory.vision.authors import entries, getter, lookup, record_dataset, rule_for
from monotheory.vision.config import DATASETS, NESTED, PRESETS, RunConfig

# set-rule entries the paper preset does not take (each is a row of the differences table)
KEEP_OURS = frozenset(f"imagenet100/{s}/data.format" for s in ("pretrain", "sae", "linear", "finetune"))


def _put(vals: dict, dotted: str, value, source: str, sources: dict) -> None:
    *path, leaf = dotted.split(".")
    d = vals
    for p in path:
        d = d.setdefault(p, {})
    if leaf in d and d[leaf] != value and dotted in sources:
        raise ValueError(f"the record sets {dotted} to {d[leaf]!r} ({sources[dotted]}) and {value!r} ({source})")
    d[leaf], sources[dotted] = value, source


def paper_values(dataset: str) -> dict:
    """The ``paper`` preset of ``dataset``, from the record: every ``set`` rule's value (but :data:`KEEP_OURS`)
    and every ``grid`` value added to monotheory's default list."""
    ds = record_dataset(dataset)
    vals: dict = {"probe": {"normalize_features": False}}
    sources: dict = {}
    defaults = RunConfig()
    for e in entries(ds):
        rule = rule_for(e)
        if rule.kind not in ("set", "grid") or rule.target is None or e["id"] in KEEP_OURS:
            continue
        get = getter(ds, e["stage"])
        target = rule.target_of(e)
        if rule.kind == "set":
            value = (rule.build or rule.theirs)(e, get)
            if isinstance(lookup(defaults, target), float) and type(value) is int:
                value = float(value)  # YAML's ``weight_decay: 0``
            _put(vals, target, value, e["id"], sources)
            continue
        stage, leaf = target.split(".")
        have = vals.get(stage, {}).get(leaf, lookup(defaults, target))
        _put(vals, target, tuple(sorted(set(have) | {float(e["value"])})), e["id"], {})
    return vals


# smoke: base lrs chosen so that the scaled ones at batch 64 are 0.3 (pretrain), 1.5 (probe), 0.05 (ft)
# proj_bn: the tiny network learns little in a few epochs without BatchNorm in the projector (digits, CL,
# 5 epochs: 84 % clean linear-probe top-1 with it, 50 % without); the paper preset has none, as the authors
def smoke_values(dataset: str) -> dict:
    return {"arch": "tiny", "cifar_stem": True, "proj_hidden": 256, "proj_out": 128, "proj_bn": True,
            "crop_size": 32, "eval_resize": 0, "blur": False, "num_workers": 0,
            "train_fraction": 1.0 if dataset == "folder" else 0.1,
            "pretrain": dict(epochs=3, batch_size=64, lr=1.2, warmup_epochs=1),
            "sae": dict(n_latents=128, k=16, epochs=20, lr=1e-3, batch_size=128),
            # noise grids stop below 0.75: smoke runs use small folders (4 classes in the tests), where flip noise
            # at ≥ (C − 1)/C leaves no class signal and is refused (noise.check_label_noise_rate)
            "probe": dict(epochs=20, batch_size=64, lr=6.0, normalize_features=True, noise_rates=(0.0, 0.3, 0.6)),
            "finetune": dict(epochs=2, few_shot_epochs=0, batch_size=64, lr=0.2, weight_decay=1e-4,
                             schedule="cosine", noise_rates=(0.6,)),
            "shift_eval": dict(severities=(3,))}


# 400: with the kornia augmentation (issue 20: torchvision's whole-pixel crops on 8-px images) the SAE column still
# gained +3.5 [+2.4, +4.5] points from 100 to 200 epochs; from 200 to 400 every method is within ±2 (docs/full-scale.md)
DIGITS_EPOCHS = 400


def digits_preset() -> dict:
    """The ``digits`` preset: scikit-learn's digits on a CPU, sized to reach a clean-accuracy plateau.

    Plateau criterion (checked by ``monotheory.vision.digits``): for every method, the mean over seeds of the
    clean linear-probe top-1 after ``DIGITS_EPOCHS`` (400) pretraining epochs is within 2 points of the same run
    with half the epochs (the paired 95 % interval of the difference is reported beside it). Sizes: an MLP
    backbone on the native 8 × 8 pixels (3·8² → 256 → 256) because a CNN cannot reach a plateau on 2 CPU cores
    in minutes; the batched ``tensor`` augmentation (per-image PIL costs ~5 ms an image here); projector
    256 → 256 → 64 without BatchNorm (as the authors); SAE 64 latents, k = 8 (the paper's k/d = 1/8);
    the authors' probe (SGD, base lr 1.5, raw features); fine-tuning without augmentation, 30 epochs.
    The label-noise grid stops at 0.8: with 10 classes, 90 % flip noise leaves the labels uninformative.
    """
    return {"arch": "mlp", "cifar_stem": True, "proj_hidden": 256, "proj_out": 64, "proj_bn": False,
            "crop_size": 8, "eval_resize": 0, "blur": False, "num_workers": 0, "loader": "tensor",
            "train_fraction": 1.0,
            "pretrain": dict(epochs=DIGITS_EPOCHS, batch_size=256, lr=0.3, warmup_epochs=10, mass_alpha=1.0,
                             clip_lr=True),
            "sae": dict(n_latents=64, k=8, epochs=200, lr=1e-3, batch_size=128),
            "probe": dict(epochs=100, batch_size=256, lr=1.5, normalize_features=False,
                          noise_rates=(0.0, 0.3, 0.6, 0.8), sigmas=(0.0, 0.3, 0.6, 1.0)),
            "finetune": dict(epochs=30, few_shot_epochs=0, batch_size=128, lr=0.2, weight_decay=1e-4,
                             schedule="cosine", noise_rates=(0.6, 0.8), augment=False),
            "shift_eval": dict(severities=(1, 3, 5))}


def preset_values(preset: str, dataset: str) -> dict:
    """The settings a preset sets: top-level keys plus one dict per nested stage config.

    ``paper``: :func:`paper_values` (the authors' CIFAR-100 configs for ``cifar100``, their ImageNet-100 ones
    otherwise; fine-tuning follows their ImageNet-100 configs for both, as they have none for CIFAR-100).
    ``smoke``: a narrow ResNet on 32-px images, a 128→256→128 projector with BatchNorm, an SAE with 128 latents
    and k = 16, a few epochs, L2-normalised probe features — minutes on a CPU, no scientific weight.
    """
    check_choice("preset", preset, PRESETS)
    check_choice("dataset", dataset, DATASETS)
    if preset == "paper":
        return paper_values(dataset)
    return digits_preset() if preset == "digits" else smoke_values(dataset)


def build_config(preset: str = "paper", dataset: str = "imagenet100", top: dict | None = None,
                 nested: dict[str, dict] | None = None) -> RunConfig:
    """A :class:`RunConfig` from a preset, overridden by explicit values (``top`` keys, ``nested[stage]`` keys)."""
    vals = preset_values(preset, dataset)
    top = {k: v for k, v in (top or {}).items() if v is not None}
    nested = nested or {}
    kw = {k: v for k, v in vals.items() if k not in NESTED}
    kw.update(top)
    for name, cls in NESTED.items():
        sub = dict(vals.get(name, {}))
        sub.update({k: v for k, v in nested.get(name, {}).items() if v is not None})
        kw[name] = cls(**sub)
    kw["preset"], kw["dataset"] = preset, dataset
    return RunConfig(**kw)
