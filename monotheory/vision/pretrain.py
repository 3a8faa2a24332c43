"""Self-supervised pretraining of CL (SimCLR) and NCL encoders: LARS or SGD, warmup-cosine, resumable.

No label reaches the encoder: the loop discards the dataset's targets before the step (the authors'
solo-learn fork trains an online classifier without ``.detach()``, leaking labels; this one has none).
A checkpoint is written after every epoch (rank 0, atomically); calling :func:`pretrain` again with the
same checkpoint path resumes after the last finished epoch and gives the same weights as an uninterrupted
run on CPU: each epoch's shuffling is seeded by (``seed``, epoch) and each image's augmentation by (``seed``,
epoch, index, DDP rank), so neither depends on the number of workers or on where a run was interrupted.
The DataLoader is built once per encoder; its workers persist across epochs.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

from monotheory.config import to_dict
from monotheory.report import atomic_torch_save
from monotheory.vision.config import REGIME, PretrainConfig
from monotheory.vision.distributed import DistInfo
from monotheory.vision.encoders import Encoder, contrastive_loss


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (as solo-learn's ``LARS``; torch has none).

    The update rule of You, Gitman & Ginsburg 2017 (arXiv:1708.03888, Algorithm 1): local lr
    ``λ = trust_coefficient · ‖p‖ / (‖g‖ + wd·‖p‖)``, ``v ← momentum·v + λ·(g + wd·p)``, ``p ← p − lr·v``; with
    ``clip_lr`` λ becomes ``min(λ / lr, 1)`` (solo-learn's cap: the step never exceeds plain SGD's). Groups with
    ``lars_exclude=True`` (biases, BN: :func:`lars_groups`) get plain SGD, and the caller gives them
    ``weight_decay=0``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust_coefficient: float = 0.02,
                 clip_lr: bool = False, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient,
                                      clip_lr=clip_lr, eps=eps, lars_exclude=False))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            wd, lr = group["weight_decay"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if not group["lars_exclude"]:
                    p_norm, g_norm = p.norm(), d_p.norm()
                    if p_norm > 0 and g_norm > 0:
                        ratio = group["trust_coefficient"] * p_norm / (g_norm + wd * p_norm + group["eps"])
                        if group["clip_lr"]:
                            ratio = torch.clamp(ratio / lr, max=1.0)
                        d_p = d_p.add(p, alpha=wd) * ratio
                elif wd:
                    d_p = d_p.add(p, alpha=wd)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d_p.clone()
                else:
                    buf.mul_(group["momentum"]).add_(d_p)
                p.add_(buf, alpha=-lr)


def lars_groups(params, **group) -> list[dict]:
    """Two parameter groups for :class:`LARS`: weights (ndim > 1), adapted and decayed, and biases and norms
    (1-d), plain SGD without weight decay (solo-learn's ``exclude_bias_n_norm``); ``group``: extra settings of both."""
    params = list(params)
    return [{"params": [p for p in params if p.ndim > 1], **group},
            {"params": [p for p in params if p.ndim <= 1], **group, "weight_decay": 0.0, "lars_exclude": True}]


def make_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """LARS or SGD; biases and BN parameters (1-d tensors) excluded from weight decay and adaptation."""
    groups = lars_groups(model.parameters())
    if cfg.optimizer == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                    trust_coefficient=cfg.trust_coefficient,
                    clip_lr=cfg.clip_lr)
    for g in groups:
        g.pop("lars_exclude", None)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def warmup_cosine(step: int, total: int, warmup: int, base_lr: float, min_lr: float = 0.0,
                  start_lr: float = 0.0) -> float:
    """Linear warmup to ``base_lr`` over ``warmup`` steps, then cosine decay to ``min_lr``. The warmup starts at
    ``base_lr / warmup`` when ``start_lr`` is 0, else at ``start_lr`` and reaches ``base_lr`` at step ``warmup − 1``
    (pl_bolts' ``LinearWarmupCosineAnnealingLR``, solo-learn's ``warmup_cosine``)."""
    if step < warmup:
        if start_lr > 0:
            return start_lr + step * (base_lr - start_lr) / max(1, warmup - 1)
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def _views(batch):
    """(views, labels) → the two image tensors; the labels are dropped here, before anything else."""
    views = batch[0]
    return views[0], views[1]


def effective_lr(cfg: PretrainConfig, batch_per_process: int, world_size: int) -> float:
    """solo-learn's linear scaling rule (which the authors' fork applies): lr × global batch / 256."""
    return cfg.lr * batch_per_process * world_size / 256 if cfg.scale_lr else cfg.lr


def make_pretrain_loader(train_ds, batch: int, *, seed: int, dist: DistInfo, num_workers: int, device):
    """The pretraining DataLoader, built once per stage (persistent workers keep running between epochs).

    Returns ``(loader, sampler)``; call ``sampler.set_epoch(e)`` before each epoch. Shuffling is seeded by
    (seed, epoch) — by ``DistributedSampler`` under DDP — and every item's augmentation by (seed, epoch,
    index, rank) through :class:`~monotheory.vision.data.SeededItems`.
    """
    from monotheory.vision.data import EpochSampler, SeededItems, make_loader

    if hasattr(train_ds, "two_views"):  # the dali backend: the loader reshuffles itself; it is its own sampler
        loader = train_ds.loader(batch, seed=seed, device_id=max(0, torch.device(device).index or 0),
                                 shard_id=dist.rank, num_shards=dist.world_size)
        return loader, loader
    inner = None
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler

        inner = DistributedSampler(train_ds, num_replicas=dist.world_size, rank=dist.rank, shuffle=True,
                                   seed=seed, drop_last=True)
    sampler = EpochSampler(len(train_ds), seed, inner)
    if getattr(train_ds, "batch_transform", None) is not None:  # the ``tensor`` backend: batched augmentation
        from monotheory.vision.batch_aug import BatchItems, BatchTwoViewCollate

        loader = torch.utils.data.DataLoader(
            BatchItems(train_ds.images, train_ds.targets), batch_size=batch, sampler=sampler, drop_last=True,
            num_workers=num_workers, persistent_workers=num_workers > 0,
            collate_fn=BatchTwoViewCollate(train_ds.batch_transform, seed, dist.rank))
        return loader, sampler
    loader = make_loader(SeededItems(train_ds, seed, dist.rank), batch, shuffle=False, num_workers=num_workers,
                         seed=seed, drop_last=True, sampler=sampler, device=device)
    return loader, sampler


def pretrain(encoder: Encoder, train_ds, cfg: PretrainConfig, *, device: torch.device | str = "cpu", seed: int = 0,
             num_workers: int = 0, checkpoint_path: str | Path | None = None, dist: DistInfo | None = None,
             compile: bool = False, progress: bool | None = None, on_epoch_end=None) -> dict:
    """Train ``encoder`` with the contrastive loss on ``train_ds`` (items ``((view1, view2), label)``).

    ``encoder.nonneg`` selects NCL. Resumes from ``checkpoint_path`` when it exists. ``on_epoch_end(epoch)``
    is called after each epoch's checkpoint (tests use it to simulate an interruption). Returns
    ``{"history": [{epoch, loss, lr, images_per_s, seconds}], "epochs", "lr_effective", ...}``;
    ``lr_effective`` is the peak lr after :func:`effective_lr`.
    """
    from tqdm.auto import tqdm

    from monotheory.progress import tqdm_kwargs

    dist = dist or DistInfo()
    device = torch.device(device)
    cuda = device.type == "cuda"
    encoder.to(device)
    if cuda and cfg.channels_last:
        encoder.to(memory_format=torch.channels_last)
    model: nn.Module = encoder
    if dist.enabled:
        if cuda:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    opt = make_optimizer(encoder, cfg)
    history, start = [], 0
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)  # state dicts + plain values
        encoder.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"]
    step_fn = torch.compile(model) if compile else model
    batch = max(2, min(cfg.batch_size, len(train_ds) // dist.world_size))
    base_lr = effective_lr(cfg, batch, dist.world_size)
    loader, sampler = make_pretrain_loader(train_ds, batch, seed=seed, dist=dist, num_workers=num_workers,
                                           device=device)
    show = (sys.stderr.isatty() if progress is None else progress) and dist.is_main
    steps_per_epoch = max(1, len(loader))
    total, warm = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch
    amp = cuda and cfg.amp
    for epoch in range(start, cfg.epochs):
        encoder.train()
        sampler.set_epoch(epoch)  # same shuffling and augmentations whether resumed or not
        t0, seen, total_loss, n_steps = time.perf_counter(), 0, 0.0, 0
        bar = tqdm(loader, desc=f"pretrain {'ncl' if encoder.nonneg else 'cl'} {epoch + 1}/{cfg.epochs}",
                   disable=not show, leave=False, **tqdm_kwargs())
        for b in bar:
            x1, x2 = _views(b)
            x1, x2 = x1.to(device, non_blocking=True), x2.to(device, non_blocking=True)
            if cuda and cfg.channels_last:
                x1, x2 = x1.contiguous(memory_format=torch.channels_last), x2.contiguous(
                    memory_format=torch.channels_last)
            lr = warmup_cosine(epoch * steps_per_epoch + n_steps, total, warm, base_lr, start_lr=cfg.warmup_start_lr)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = step_fn(torch.cat([x1, x2]))
            n = x1.shape[0]
            loss = contrastive_loss(z[:n], z[n:], cfg.temperature,
                                    mass_alpha=cfg.mass_alpha if encoder.nonneg else 0.0, gather=dist.enabled)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item()
            n_steps += 1
            seen += n * dist.world_size
            bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        dt = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "loss": total_loss / max(1, n_steps), "lr": lr if n_steps else base_lr,
                        "images_per_s": seen / dt if dt > 0 else None, "seconds": dt})
        if ckpt is not None and dist.is_main:
            atomic_torch_save({"epoch": epoch + 1, "model": encoder.state_dict(),
                                   "optimizer": opt.state_dict(), "history": history, "config": to_dict(cfg)}, ckpt)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    del loader  # stops persistent workers
    encoder.eval()
    return {"history": history, "epochs": cfg.epochs, "final_loss": history[-1]["loss"] if history else None,
            "world_size": dist.world_size, "batch_size_per_process": batch, "global_batch_size": batch * dist.world_size,
            "lr_base": cfg.lr, "lr_effective": base_lr, "lr_scaled": bool(cfg.scale_lr)}


def run_pretrain_stage(ctx) -> None:
    """Pretrain every encoder the run needs (CL and/or NCL) → ``pretrain_<enc>.json`` + ``encoder_<enc>.pt``.

    CL and NCL start from the same initial weights and see the same batches and augmentations (same seed),
    so the only difference between them is the ReLU (and the optional activation-mass term).
    """
    for name in ctx.cfg.encoders_needed():
        if ctx.done(f"pretrain_{name}", "pretrain"):
            continue
        ckpt = ctx.ckpt_dir / f"pretrain_{name}_last.pt"  # under --force, run() has deleted it already
        if ckpt.exists():
            ctx.log(f"pretrain {name}: resuming from {ckpt.name}")
        else:
            ctx.log(f"pretrain {name}: {ctx.cfg.pretrain.epochs} epochs on {len(ctx.train_aug)} images")
        enc = ctx.new_encoder(name)
        res = pretrain(enc, ctx.train_aug, ctx.cfg.pretrain, device=ctx.device, seed=ctx.cfg.seed,
                       num_workers=ctx.cfg.num_workers, checkpoint_path=ckpt, dist=ctx.dist,
                       compile=ctx.cfg.compile, progress=ctx.progress)
        if ctx.dist.is_main:
            atomic_torch_save(enc.state_dict(), ctx.encoder_path(name))
            ctx.write_result(f"pretrain_{name}", {"encoder": name, "method": name, "regime": REGIME[name], **res, "n_train": len(ctx.train_aug),
                                                  "config": to_dict(ctx.cfg.pretrain)})
        ctx.barrier()
