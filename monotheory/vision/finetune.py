"""Fine-tuning a pretrained encoder with a plain (CE) or monosemantic (NCE) head — PAPER.md §5, claims C9/C10.

Semantics (the authors' setting as far as it is known):

- the encoder is deep-copied; its backbone and a new ``Linear(d, C)`` classifier are trained, the projector is
  frozen (``requires_grad=False`` and eval mode, so its BatchNorm statistics do not move either) but gradients
  flow *through* it into the backbone;
- features = ``projector(backbone(x))``; ``head="nce"`` puts a ReLU on them before the classifier
  (non-negative, hence sparser, features: "monosemantic fine-tuning"); ``head="ce"`` does not;
- few-shot: a stratified, seeded ``few_shot_fraction`` of the training set (at least one image per class);
- label noise: :func:`monotheory.noise.label_noise` applied once to the (few-shot) training targets; validation
  labels stay clean;
- SGD with momentum and cross-entropy on the (noisy) labels; ``schedule="cosine"`` decays the lr per step to
  0, ``schedule="step"`` multiplies it by 0.1 at each of ``decay_epochs`` (the authors' ``MultiStepLR``);
- shuffling is seeded by (seed, epoch) and a random training transform by (seed, epoch, index), so a resumed
  run repeats the uninterrupted one.

- BatchNorm running statistics of the backbone are re-estimated on the training loader (one forward pass in
  train mode, no gradients: ``torch.optim.swa_utils.update_bn``) before each validation while fewer than
  :data:`BN_SETTLE_STEPS` optimiser steps have been taken: the momentum-0.1 running averages then still hold
  ≥ 0.9^N of the *pretraining* statistics, and a model evaluated with them can sit at chance on its own
  training images (issue 11: smoke runs, 1 step per epoch, val 25 % on 4 classes while training reached 62 %).
  Later, the running averages have forgotten the old statistics and nothing is changed (full-scale runs take
  hundreds of steps per epoch). The history records ``bn_recalibrated`` per epoch.

``train_acc`` in the history is the running accuracy during each epoch against the labels trained on (noisy
ones under label noise); ``train_acc_clean`` is the same predictions scored against the true labels.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from monotheory.config import (
    check_int,
    to_dict,
)
from monotheory.errors import ConfigError
from monotheory.files import atomic_torch_save
from monotheory.noise import check_label_noise_rate, label_noise
from monotheory.progress import tqdm_kwargs
from monotheory.vision.data import EpochSampler, SeededItems, few_shot_indices, make_loader, subset
from monotheory.vision.finetune_config import FINETUNE_OPTIMISATION_FIELDS, FinetuneConfig

BN_SETTLE_STEPS = 100  # 0.9**100 ≈ 3e-5: after this many steps BatchNorm's running stats are the current ones


class _NoisyLabels(Dataset):
    """(image, noisy label, clean label) over ``base`` (a dataset returning (image, clean label))."""

    def __init__(self, base: Dataset, noisy: np.ndarray):
        self.base, self.noisy = base, np.asarray(noisy, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x, int(self.noisy[i]), int(y)


class FinetuneModel(nn.Module):
    """Backbone → frozen projector → (ReLU for NCE) → linear classifier."""

    def __init__(self, encoder: nn.Module, num_classes: int, feature_dim: int, nonneg: bool):
        super().__init__()
        self.backbone, self.projector, self.nonneg = encoder.backbone, encoder.projector, nonneg
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.projector.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.projector.eval()  # frozen: no BatchNorm statistics updates either
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.backbone(x))
        return self.classifier(F.relu(z) if self.nonneg else z)


def _lr_factor(cfg: FinetuneConfig, steps_per_epoch: int):
    """Multiplier of the lr at optimiser step ``s`` (a function for ``LambdaLR``)."""
    if cfg.schedule == "step":
        return lambda s: 0.1 ** sum(s >= e * steps_per_epoch for e in cfg.decay_epochs)
    steps = cfg.epochs * steps_per_epoch
    return lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))


@torch.no_grad()
def _evaluate(model: nn.Module, loader, device: torch.device, amp: bool) -> float:
    """Top-1 accuracy of ``model`` on ``loader`` (eval mode)."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    return correct / max(total, 1)


@torch.no_grad()
def _recalibrate_bn(backbone: nn.Module, loader, device: torch.device) -> None:
    """Re-estimate the backbone's BatchNorm running statistics over one pass of ``loader`` (cumulative average).

    Only the backbone: the frozen projector keeps its pretraining statistics, as during training."""
    from torch.optim.swa_utils import update_bn

    update_bn((batch[0].to(device, non_blocking=True) for batch in loader), backbone)


@torch.no_grad()
def _val_correct(model: nn.Module, loader, device: torch.device, amp: bool) -> list[int]:
    """Per-image 0/1 correctness of ``model`` on ``loader`` (eval mode), for paired comparisons of heads."""
    model.eval()
    out = []
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        out += (logits.argmax(1) == y).int().tolist()
    return out


def run_record(cfg: FinetuneConfig) -> dict:
    """The fields of ``cfg`` that shape one run (the stage's plan fields left out), as recorded in its result."""
    plan = set(cfg.plan()) - set(FINETUNE_OPTIMISATION_FIELDS)
    return {k: v for k, v in to_dict(cfg).items() if k not in plan}


def _resume_keys(cfg: FinetuneConfig) -> dict:
    """The config fields that must match for a checkpoint to be resumed (not workers)."""
    d = run_record(cfg)
    d.pop("num_workers")
    return d


def _loaders(train_ds, val_ds, idx: np.ndarray, noisy: np.ndarray, clean: np.ndarray, cfg: FinetuneConfig, device):
    """(train loader, its sampler, val loader): the torchvision DataLoaders, or the batched loaders of a
    :class:`~monotheory.vision.loaders.GpuImages` (``gpu`` / ``tensor`` backends); the training batches are
    (images, noisy labels, clean labels)."""
    n = len(idx)
    drop = n % cfg.batch_size == 1  # BatchNorm needs 2+ images in a training batch
    if hasattr(train_ds, "with_kind"):  # GpuImages
        train = train_ds.subset(idx).loader(cfg.batch_size, seed=cfg.seed, shuffle=True, drop_last=drop,
                                            targets=noisy, extras=(clean,))
        return train, train, val_ds.loader(cfg.batch_size)
    sampler = EpochSampler(n, cfg.seed)
    train = make_loader(SeededItems(_NoisyLabels(subset(train_ds, idx), noisy), cfg.seed), cfg.batch_size,
                        shuffle=False, sampler=sampler, num_workers=cfg.num_workers, seed=cfg.seed, drop_last=drop,
                        device=device)
    val = make_loader(val_ds, cfg.batch_size, shuffle=False, num_workers=cfg.num_workers, seed=cfg.seed, device=device)
    return train, sampler, val


def finetune(encoder: nn.Module, train_ds: Dataset, val_ds: Dataset, num_classes: int, cfg: FinetuneConfig, *,
             device: str | torch.device = "cpu", progress: bool | None = None,
             checkpoint_path: str | os.PathLike | None = None, return_model: bool = False, on_step=None) -> dict:
    """Fine-tune a copy of ``encoder`` (attributes ``.backbone`` and ``.projector``) on ``train_ds``.

    ``train_ds`` / ``val_ds`` return (normalised image, class index) and expose ``.targets``. With
    ``checkpoint_path`` the state is saved atomically after every epoch and a run resumes from it (same config
    required). ``progress``: show a progress bar (None: only when stderr is a terminal). Returns ``{"config",
    "history", "final_val_acc", "best_val_acc", "realised_noise_rate",
    "n_train", "n_val", "val_correct"}`` (``val_correct``: 0/1 per validation image of the final model, so
    that two heads scored on the same images get paired statistics); ``history`` has one ``{"epoch", "loss", "train_acc", "train_acc_clean",
    "val_acc"}`` per epoch. ``return_model=True`` adds the fine-tuned :class:`FinetuneModel` under ``"model"``
    (not JSON-serialisable; the caller's ``encoder`` itself is never modified). ``on_step(units)`` is called
    after every training step (images × 3 forward-equivalents) and validation pass (images), for time estimates.
    ``train_ds`` / ``val_ds`` may be :class:`~monotheory.vision.loaders.GpuImages` (batched GPU pipeline).
    """
    from tqdm.auto import tqdm

    if not isinstance(cfg, FinetuneConfig):
        raise ConfigError(f"cfg must be a FinetuneConfig, got {type(cfg).__name__}")
    num_classes = check_int("num_classes", num_classes, minimum=2)
    check_label_noise_rate("noise_rate", cfg.noise_rate, num_classes, cfg.noise_model)  # issue 11: one rule
    for attr in ("backbone", "projector"):
        if not isinstance(getattr(encoder, attr, None), nn.Module):
            raise ConfigError(f"the encoder to fine-tune has no .{attr} module")
    device = torch.device(device)
    amp = bool(cfg.amp and device.type == "cuda")

    # data: few-shot split, then label noise once on the kept targets
    targets = np.asarray(train_ds.targets, dtype=np.int64)
    idx = few_shot_indices(targets, cfg.few_shot_fraction, cfg.seed)
    clean = targets[idx]
    noise = label_noise(clean, cfg.noise_rate, num_classes, model=cfg.noise_model, sampling=cfg.noise_sampling,
                        seed=cfg.seed)
    noisy = np.asarray(noise.labels, dtype=np.int64)
    n = len(idx)
    train_loader, sampler, val_loader = _loaders(train_ds, val_ds, idx, noisy, clean, cfg, device)
    tick = on_step or (lambda units: None)

    # model: copy of the encoder + a seeded classifier sized from one forward pass
    enc = copy.deepcopy(encoder).to(device)
    enc.eval()
    with torch.no_grad():
        d = enc.projector(enc.backbone(val_ds[0][0][None].to(device))).shape[1]
    torch_gen = torch.Generator().manual_seed(cfg.seed)
    model = FinetuneModel(enc, num_classes, d, nonneg=cfg.head == "nce").to(device)
    with torch.no_grad():  # nn.Linear's default init, drawn from our generator instead of the global one
        bound = 1 / math.sqrt(d)
        for p in model.classifier.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=torch_gen))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg, len(train_loader)))

    history: list[dict] = []
    start = 0
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)  # tensors and plain values
        if state.get("resume_keys") != _resume_keys(cfg) or not np.array_equal(np.asarray(state.get("noisy")), noisy):
            raise ConfigError(f"checkpoint {ckpt} was written by a different fine-tuning run (config or data "
                              "differ); delete it or use another checkpoint path")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        history, start = state["history"], state["epoch"]

    show = sys.stderr.isatty() if progress is None else progress  # an explicit setting wins over the TTY test
    bar = tqdm(total=cfg.epochs * n, initial=start * n, unit="img", unit_scale=True, desc=f"finetune {cfg.head}",
               disable=not show, leave=False, **tqdm_kwargs())
    for epoch in range(start, cfg.epochs):
        model.train()
        sampler.set_epoch(epoch)  # same order and augmentations whether resumed or not
        loss_sum = torch.zeros((), device=device)
        hits = torch.zeros(2, device=device, dtype=torch.long)
        seen = 0
        for x, y_noisy, y_clean in train_loader:
            x = x.to(device, non_blocking=True)
            y_noisy, y_clean = y_noisy.to(device, non_blocking=True), y_clean.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y_noisy)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            pred = logits.detach().argmax(1)
            loss_sum += loss.detach() * len(x)
            hits += torch.stack([(pred == y_noisy).sum(), (pred == y_clean).sum()])
            seen += len(x)
            bar.update(len(x))
            tick(3 * len(x))
        recalibrate = (epoch + 1) * len(train_loader) < BN_SETTLE_STEPS
        if recalibrate:
            _recalibrate_bn(model.backbone, train_loader, device)
        val_acc = _evaluate(model, val_loader, device, amp)
        tick(len(val_ds))
        hits_cpu = hits.tolist()
        history.append({"epoch": epoch + 1, "loss": loss_sum.item() / seen, "train_acc": hits_cpu[0] / seen,
                        "train_acc_clean": hits_cpu[1] / seen, "val_acc": val_acc,
                        "bn_recalibrated": recalibrate})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val=f"{val_acc:.3f}")
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save({"epoch": epoch + 1, "model": model.state_dict(), "opt": opt.state_dict(),
                          "sched": sched.state_dict(), "history": history, "resume_keys": _resume_keys(cfg),
                          "noisy": torch.from_numpy(noisy)}, ckpt)
    bar.close()
    out = {"config": run_record(cfg), "history": history, "final_val_acc": history[-1]["val_acc"],
           "best_val_acc": max(h["val_acc"] for h in history), "realised_noise_rate": float(noise.realised_rate),
           "n_train": n, "n_val": len(val_ds), "val_correct": _val_correct(model, val_loader, device, amp)}
    if return_model:
        out["model"] = model.eval()
    return out
