"""Top-k sparse autoencoder (Gao et al. 2024 / OpenAI ``sparse_autoencoder``) on frozen CL features.

The paper trains it on the L2-normalised CL projector output (2048-d), with 2048 latents, k = 256, a
pre-encoder bias, loss ‖ẑ − z‖² / ‖z‖² (normalised MSE), Adam lr 1e-4, wd 1e-4, batch 128. The codes
``encode(z)`` (k largest pre-activations kept, passed through a ReLU, all others zero) are the
monosemantic features the downstream probe sees.
"""

from __future__ import annotations

import copy
import dataclasses
import sys

import torch
import torch.nn.functional as F
from torch import nn

from monotheory.config import check_int, to_dict
from monotheory.files import atomic_torch_save
from monotheory.seeding import torch_generator
from monotheory.vision.config import SAEConfig
from monotheory.vision.distributed import DistInfo, all_reduce_sum
from monotheory.vision.pretrain import LARS, lars_groups, make_pretrain_loader


@dataclasses.dataclass
class TopKSAEConfig:
    """The architecture of a :class:`TopKSAE` (SAELens style: the model takes this whole): input size ``d_in``,
    ``n_latents``, ``k`` (1 ≤ k ≤ n_latents), ``postact`` (relu / identity), ``init`` (transpose / default) and
    the ``seed`` of the initialisation. :func:`make_sae` builds it from a stage's :class:`SAEConfig`."""

    d_in: int
    n_latents: int = 2048
    k: int = 256
    postact: str = "relu"
    init: str = "transpose"
    seed: int = 0

    def __post_init__(self):
        check_int("sae d_in", self.d_in)
        check_int("sae k", self.k, 1, self.n_latents)


class TopKSAE(nn.Module):
    """x ↦ codes = TopK_k(W_enc (x − b_pre) + b_enc) ↦ x̂ = W_dec codes + b_pre.

    ``postact="relu"`` (OpenAI's default) applies a ReLU to the kept values, so a code has *at most* k
    non-zeros (exactly k with ``"identity"``). ``init="transpose"``: decoder columns start at unit norm, the
    encoder at the decoder's transpose; ``init="default"``: torch's ``nn.Linear`` initialisation of both,
    drawn independently, and a zero latent bias (the authors' ``simclr.py``). ``b_pre`` starts at zero; see
    :meth:`init_from_data` for the data mean.
    """

    def __init__(self, cfg: TopKSAEConfig):
        super().__init__()
        self.cfg = cfg
        d_in, n_latents, k, init = cfg.d_in, cfg.n_latents, cfg.k, cfg.init
        self.k, self.postact = int(k), cfg.postact
        self.decoder = nn.Linear(n_latents, d_in, bias=False)
        self.encoder = nn.Linear(d_in, n_latents)
        g = torch.Generator().manual_seed(cfg.seed)
        with torch.no_grad():
            if init == "default":  # kaiming-uniform as nn.Linear.reset_parameters, from the seeded generator
                for lin in (self.encoder, self.decoder):
                    bound = 1.0 / lin.in_features ** 0.5
                    lin.weight.uniform_(-bound, bound, generator=g)
            else:
                w = torch.randn(d_in, n_latents, generator=g)
                w = w / w.norm(dim=0, keepdim=True)
                self.decoder.weight.copy_(w)
                self.encoder.weight.copy_(w.T)
            self.encoder.bias.zero_()
        self.pre_bias = nn.Parameter(torch.zeros(d_in))

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> TopKSAE:
        """Set the pre-encoder bias to the mean of ``x`` (a cheap stand-in for the geometric median)."""
        self.pre_bias.copy_(x.float().mean(0))
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse codes (batch, n_latents): the k largest pre-activations kept, the rest zero."""
        pre = self.encoder(x - self.pre_bias)
        top = torch.topk(pre, self.k, dim=-1)
        vals = F.relu(top.values) if self.postact == "relu" else top.values
        return torch.zeros_like(pre).scatter_(-1, top.indices, vals)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(codes) + self.pre_bias

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.encode(x)
        return self.decode(codes), codes


def normalized_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ‖x̂ − x‖² / ‖x‖² (the paper's SAE loss)."""
    return ((x_hat - x).pow(2).sum(-1) / x.pow(2).sum(-1).clamp_min(1e-12)).mean()


WARMUP_EPOCHS, WARMUP_START_LR = 10, 3e-5  # solo-learn's scheduler defaults (warmup_cosine)


def make_sae(d_in: int, cfg: SAEConfig, x_init: torch.Tensor | None, *, seed: int = 0) -> TopKSAE:
    """A :class:`TopKSAE` per ``cfg`` (init, pre-bias at the mean of ``x_init`` when ``pre_bias_init="mean"``)."""
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, n_latents=cfg.n_latents, k=cfg.k, postact=cfg.postact, init=cfg.init,
                                seed=seed))
    if cfg.pre_bias_init == "mean" and x_init is not None:
        sae.init_from_data(x_init.cpu())
    return sae


def random_sae(d_in: int, cfg: SAEConfig, x_init: torch.Tensor | None, *, seed: int = 0) -> TopKSAE:
    """The ``sae_random`` control: the SAE that :func:`train_sae` would start from, frozen, never trained.

    Same width (``cfg.n_latents``), k, post-activation, initialisation and seed as the trained SAE of a run, and the
    same input normalisation (callers pass the L2-normalised training features as ``x_init`` and encode with
    :func:`sae_codes`); the pre-encoder bias is the mean of ``x_init`` when ``cfg.pre_bias_init = "mean"``, as at
    the trained SAE's first step. Every parameter has ``requires_grad = False`` and the model is in eval mode;
    ``sae.trained`` is False. (A 2026 sanity check found SAEs with frozen random weights close to trained ones
    on probing: a trained SAE's gain counts only where it beats this one.)
    """
    sae = make_sae(d_in, cfg, x_init, seed=seed)
    for p in sae.parameters():
        p.requires_grad_(False)
    sae.trained = False
    return sae.eval()


def sae_optimizer(sae: TopKSAE, cfg: SAEConfig) -> torch.optim.Optimizer:
    """Adam (or LARS, momentum 0.9, biases without adaptation or decay) with the decoder in its own parameter
    group at ``decoder_lr`` (when > 0), as the authors' 0.3."""
    dec = list(sae.decoder.parameters())
    rest = [p for p in sae.parameters() if all(p is not q for q in dec)]
    if cfg.optimizer == "lars":
        groups = lars_groups(rest) + lars_groups(dec, lr=cfg.decoder_lr or cfg.lr)
        opt = LARS([g for g in groups if g["params"]], lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay,
                   trust_coefficient=cfg.trust_coefficient, clip_lr=cfg.clip_lr)
    else:
        groups = [{"params": rest}, {"params": dec, "lr": cfg.decoder_lr or cfg.lr}]
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    for g in opt.param_groups:
        g["base_lr"] = g["lr"]
    return opt


def scheduled_lr(base: float, step: int, total: int, warmup: int) -> float:
    """solo-learn's warmup_cosine: linear from 3e-5 to ``base`` over ``warmup`` steps, then cosine to 0."""
    import math

    if step < warmup:
        return WARMUP_START_LR + step * (base - WARMUP_START_LR) / max(1, warmup - 1)
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(t, 1.0)))


def fit_sae(sae: TopKSAE, epoch_batches, cfg: SAEConfig, steps_per_epoch: int, *,
            progress: bool | None = None, dist: DistInfo | None = None) -> list[float]:
    """Train ``sae`` for ``cfg.epochs``; ``epoch_batches(epoch)`` yields the (already normalised) input batches.

    Returns the per-epoch mean normalised MSE. Options: ``schedule`` (constant or warmup_cosine over every
    parameter group), ``normalize_decoder`` (unit-norm decoder columns after each step), ``decoder_lr``.
    Under DDP (``dist.enabled``) every rank yields its share of each global batch, the same number of batches,
    and the gradients are averaged by ``DistributedDataParallel``; the losses are summed over the ranks.
    """
    from tqdm.auto import tqdm

    dist = dist or DistInfo()
    opt = sae_optimizer(sae, cfg)
    model = sae
    if dist.enabled:
        dev = next(sae.parameters()).device
        model = nn.parallel.DistributedDataParallel(sae, device_ids=[dev.index] if dev.type == "cuda" else None)
    total, warm = cfg.epochs * steps_per_epoch, WARMUP_EPOCHS * steps_per_epoch
    show = (sys.stderr.isatty() if progress is None else progress) and dist.is_main
    losses, step = [], 0
    for epoch in tqdm(range(cfg.epochs), desc="sae", disable=not show, leave=False):
        tot, n = 0.0, 0
        for xb in epoch_batches(epoch):
            if cfg.schedule == "warmup_cosine":
                for g in opt.param_groups:
                    g["lr"] = scheduled_lr(g["base_lr"], step, total, warm)
            x_hat, _ = model(xb)
            loss = normalized_mse(x_hat, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.normalize_decoder:  # the usual top-k SAE constraint (the authors have none)
                with torch.no_grad():
                    sae.decoder.weight.div_(sae.decoder.weight.norm(dim=0, keepdim=True).clamp_min(1e-8))
            tot += loss.item() * xb.shape[0]
            n += xb.shape[0]
            step += 1
        tot, n = all_reduce_sum([tot, n], dist, next(sae.parameters()).device)
        losses.append(tot / max(1, n))
    return losses


def train_sae(features: torch.Tensor, cfg: SAEConfig, *, seed: int = 0, device="cpu", progress: bool | None = None,
              normalize: bool = True, dist: DistInfo | None = None) -> tuple[TopKSAE, dict]:
    """Fit a :class:`TopKSAE` to ``features`` (N, d); rows are L2-normalised first when ``normalize``.

    Returns the model (in eval mode, on ``device``) and a history dict: per-epoch normalised MSE,
    final dead-latent count (latents never active on any training row) and the fraction of variance
    unexplained. Deterministic given ``seed`` (shuffling uses its own ``torch.Generator``). Under DDP every
    rank holds all ``features``, draws the same permutation and takes its ``cfg.batch_size`` rows of each global
    batch of ``batch_size × world_size`` rows; the last incomplete global batch of an epoch is dropped (every
    rank must take the same number of steps). One process keeps every row.
    """
    x = features.float()
    if normalize:
        x = F.normalize(x, dim=1)
    x = x.to(device)
    sae = make_sae(x.shape[1], cfg, x, seed=seed).to(device)
    g = torch_generator(seed, "sae", "shuffle")
    n = x.shape[0]

    dist = dist or DistInfo()
    bs, world = cfg.batch_size, dist.world_size
    steps = -(-n // bs) if world == 1 else max(1, n // (bs * world))

    def batches(epoch):
        perm = torch.randperm(n, generator=g).to(device)
        for i in range(steps):
            lo = i * bs * world + dist.rank * bs
            yield x[perm[lo:lo + bs]]

    losses = fit_sae(sae, batches, cfg, steps, progress=progress, dist=dist)
    sae.eval()
    return sae, {"loss": losses, **sae_stats(sae, x)}


def train_sae_two_crop(encoder: nn.Module, loader, sampler, cfg: SAEConfig, x_clean: torch.Tensor, *,
                       seed: int = 0, device="cpu", progress: bool | None = None, dist: DistInfo | None = None,
                       on_step=None) -> tuple[TopKSAE, dict]:
    """Fit the SAE on the frozen ``encoder``'s L2-normalised outputs of both SimCLR views of every image,
    re-augmented every epoch (the authors' SAE training through their pretraining pipeline). The encoder runs
    on one view at a time, in eval mode, or with ``cfg.backbone_mode="train"`` as the authors' (batch statistics of
    each view; a copy takes the BatchNorm running-statistics updates, so ``encoder`` itself is left unchanged).

    ``loader``/``sampler``: the pretraining loader (:func:`monotheory.vision.pretrain.make_pretrain_loader`,
    batches of ``cfg.batch_size`` images → 2 × that many vectors; under DDP each rank's share). ``x_clean``: the
    clean training features, for the pre-bias mean (when asked) and the reported statistics. ``on_step(images)``
    after every batch (time estimates).
    """
    x_clean = F.normalize(x_clean.float(), dim=1).to(device)
    sae = make_sae(x_clean.shape[1], cfg, x_clean, seed=seed).to(device)
    encoder = copy.deepcopy(encoder).train() if cfg.backbone_mode == "train" else encoder.eval()

    def batches(epoch):
        sampler.set_epoch(epoch)
        for (x1, x2), _ in loader:
            # one view at a time: in train mode each view gets its own BatchNorm batch statistics, as the authors'
            with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                                                 enabled=torch.device(device).type == "cuda"):
                z = torch.cat([encoder(x1.to(device)), encoder(x2.to(device))]).float()
            if on_step is not None:
                on_step(x1.shape[0])
            yield F.normalize(z, dim=1)

    losses = fit_sae(sae, batches, cfg, max(1, len(loader)), progress=progress, dist=dist)
    sae.eval()
    return sae, {"loss": losses, **sae_stats(sae, x_clean)}


@torch.no_grad()
def sae_stats(sae: TopKSAE, x: torch.Tensor, batch_size: int = 4096) -> dict:
    """Normalised MSE, dead latents (never active on ``x``) and mean active latents per code."""
    active = torch.zeros(sae.encoder.out_features, dtype=torch.bool, device=x.device)
    err, nnz = 0.0, 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        x_hat, codes = sae(xb)
        err += normalized_mse(x_hat, xb).item() * xb.shape[0]
        active |= (codes != 0).any(0)
        nnz += (codes != 0).sum().item()
    n = x.shape[0]
    return {"normalized_mse": err / n, "dead_latents": int((~active).sum().item()),
            "n_latents": int(active.numel()), "mean_active": nnz / n}


@torch.no_grad()
def sae_codes(sae: TopKSAE, features: torch.Tensor, batch_size: int = 4096, normalize: bool = True) -> torch.Tensor:
    """Sparse codes of ``features``, on the CPU: L2-normalised first, as in training, when ``normalize``; the
    raw features otherwise (``SAEConfig.probe_input="raw"``, the authors' linear evaluation)."""
    dev = next(sae.parameters()).device
    out = []
    for i in range(0, features.shape[0], batch_size):
        xb = features[i:i + batch_size].float().to(dev)
        out.append(sae.encode(F.normalize(xb, dim=1) if normalize else xb).cpu())
    return torch.cat(out) if out else torch.zeros(0, sae.encoder.out_features)


def save_sae(sae: TopKSAE, path) -> None:
    """Save the SAE as its state dict and sizes (plain tensors and values; :func:`load_sae` reads it with
    ``weights_only=True``), atomically."""
    atomic_torch_save({"state_dict": sae.state_dict(), "d_in": sae.decoder.out_features,
                "n_latents": sae.encoder.out_features, "k": sae.k, "postact": sae.postact}, path)


def load_sae(path, device="cpu") -> TopKSAE:
    d = torch.load(path, map_location="cpu", weights_only=True)
    sae = TopKSAE(TopKSAEConfig(d_in=d["d_in"], n_latents=d["n_latents"], k=d["k"], postact=d["postact"]))
    sae.load_state_dict(d["state_dict"])
    return sae.to(device).eval()


def run_sae_stage(ctx) -> None:
    """Train the SAE on frozen CL features → ``sae.json``: of the clean, un-augmented training set
    (``train_data="clean"``) or of both SimCLR views re-augmented every epoch (``"two_crop"``)."""
    if "sae" not in ctx.cfg.methods:
        ctx.log("sae: not among --methods, skipping")
        return
    if ctx.done("sae"):
        return
    c, world = ctx.cfg.sae, ctx.dist.world_size
    ctx.eta.begin("sae", "sae (CL features)")
    x, _ = ctx.features("cl", "train", 0.0, stage="sae")
    bs = min(c.batch_size, max(1, len(ctx.train_aug) // world)) if c.train_data == "two_crop" else c.batch_size
    global_bs = bs * world * (2 if c.train_data == "two_crop" else 1)
    ctx.log(f"sae: {c.n_latents} latents, k={c.k}, on {x.shape[0]} CL features ({c.train_data}); batch {bs} "
            f"{'images' if c.train_data == 'two_crop' else 'rows'} per process × {world} process(es) = "
            f"{global_bs} SAE inputs a step; {c.optimizer} lr {c.lr:g}, decoder {c.decoder_lr or c.lr:g} (not scaled)")
    if c.train_data == "two_crop":
        loader, sampler = make_pretrain_loader(ctx.train_aug, bs, seed=ctx.cfg.seed, dist=ctx.dist,
                                               num_workers=ctx.cfg.num_workers, device=ctx.device)
        ctx.eta.begin("sae", "sae")
        sae, hist = train_sae_two_crop(ctx.load_encoder("cl", "sae"), loader, sampler, c, x, seed=ctx.cfg.seed,
                                       device=ctx.device, progress=ctx.progress, dist=ctx.dist,
                                       on_step=lambda images: ctx.eta.tick(2 * images * world))
        del loader
    else:
        sae, hist = train_sae(x, c, seed=ctx.cfg.seed, device=ctx.device, progress=ctx.progress, dist=ctx.dist)
    if ctx.dist.is_main:
        save_sae(sae, ctx.ckpt_dir / "sae.pt")
    ctx.write_result("sae", {"method": "sae", "regime": "mono", **hist, "n_train": int(x.shape[0]),
                             "batch_size_per_process": bs, "global_batch_size": global_bs, "config": to_dict(c)})
    ctx.log(f"sae: normalised MSE {hist['normalized_mse']:.4f}, dead latents {hist['dead_latents']}")
