"""Top-k sparse autoencoder (Gao et al. 2024 / OpenAI ``sparse_autoencoder``) on frozen CL features.

The paper trains it on the L2-normalised CL projector output (2048-d), with 2048 latents, k = 256, a
pre-encoder bias, loss ‖ẑ − z‖² / ‖z‖² (normalised MSE), Adam lr 1e-4, wd 1e-4, batch 128. The codes
``encode(z)`` (k largest pre-activations kept, passed through a ReLU, all others zero) are the
monosemantic features the downstream probe sees.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from monotheory.config import check_int
from monotheory.vision.config import SAEConfig


class TopKSAE(nn.Module):
    """x ↦ codes = TopK_k(W_enc (x − b_pre) + b_enc) ↦ x̂ = W_dec codes + b_pre.

    ``postact="relu"`` (OpenAI's default) applies a ReLU to the kept values, so a code has *at most* k
    non-zeros (exactly k with ``"identity"``). Decoder columns start at unit norm, the encoder at the
    decoder's transpose, and ``b_pre`` at the data mean (see :meth:`init_from_data`).
    """

    def __init__(self, d_in: int, n_latents: int = 2048, k: int = 256, postact: str = "relu", seed: int = 0):
        super().__init__()
        check_int("sae k", k, 1, n_latents)
        self.k, self.postact = int(k), postact
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(d_in, n_latents, generator=g)
        w = w / w.norm(dim=0, keepdim=True)
        self.decoder = nn.Linear(n_latents, d_in, bias=False)
        self.encoder = nn.Linear(d_in, n_latents)
        with torch.no_grad():
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


def train_sae(features: torch.Tensor, cfg: SAEConfig, *, seed: int = 0, device="cpu", progress: bool | None = None,
              normalize: bool = True) -> tuple[TopKSAE, dict]:
    """Fit a :class:`TopKSAE` to ``features`` (N, d); rows are L2-normalised first when ``normalize``.

    Returns the model (in eval mode, on ``device``) and a history dict: per-epoch normalised MSE,
    final dead-latent count (latents never active on any training row) and the fraction of variance
    unexplained. Deterministic given ``seed`` (shuffling uses its own ``torch.Generator``).
    """
    from tqdm.auto import tqdm

    x = features.float()
    if normalize:
        x = F.normalize(x, dim=1)
    x = x.to(device)
    sae = TopKSAE(x.shape[1], cfg.n_latents, cfg.k, cfg.postact, seed=seed).to(device).init_from_data(x)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(seed + 1)
    n, losses = x.shape[0], []
    show = sys.stderr.isatty() if progress is None else progress
    for _ in tqdm(range(cfg.epochs), desc="sae", disable=not show, leave=False):
        perm = torch.randperm(n, generator=g).to(device)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            xb = x[perm[i:i + cfg.batch_size]]
            x_hat, _ = sae(xb)
            loss = normalized_mse(x_hat, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # keep decoder columns at unit norm (the usual top-k SAE constraint)
                sae.decoder.weight.div_(sae.decoder.weight.norm(dim=0, keepdim=True).clamp_min(1e-8))
            total += loss.item() * xb.shape[0]
        losses.append(total / n)
    sae.eval()
    stats = sae_stats(sae, x)
    return sae, {"loss": losses, **stats}


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
    """Sparse codes of ``features`` (L2-normalised first, as in training), on the CPU."""
    dev = next(sae.parameters()).device
    out = []
    for i in range(0, features.shape[0], batch_size):
        xb = features[i:i + batch_size].float().to(dev)
        out.append(sae.encode(F.normalize(xb, dim=1) if normalize else xb).cpu())
    return torch.cat(out) if out else torch.zeros(0, sae.encoder.out_features)


def save_sae(sae: TopKSAE, path) -> None:
    import io

    from monotheory.report import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"state_dict": sae.state_dict(), "d_in": sae.decoder.out_features,
                "n_latents": sae.encoder.out_features, "k": sae.k, "postact": sae.postact}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_sae(path, device="cpu") -> TopKSAE:
    d = torch.load(path, map_location="cpu", weights_only=True)
    sae = TopKSAE(d["d_in"], d["n_latents"], d["k"], d["postact"])
    sae.load_state_dict(d["state_dict"])
    return sae.to(device).eval()


def run_sae_stage(ctx) -> None:
    """Train the SAE on the frozen CL features of the (clean, un-augmented) training set → ``sae.json``."""
    from monotheory.config import to_dict

    if "sae" not in ctx.cfg.methods:
        ctx.log("sae: not among --methods, skipping")
        return
    if ctx.done("sae"):
        return
    x, _ = ctx.features("cl", "train", 0.0, stage="sae")
    ctx.log(f"sae: {ctx.cfg.sae.n_latents} latents, k={ctx.cfg.sae.k}, on {x.shape[0]} CL features")
    sae, hist = train_sae(x, ctx.cfg.sae, seed=ctx.cfg.seed, device=ctx.device, progress=ctx.progress)
    save_sae(sae, ctx.ckpt_dir / "sae.pt")
    ctx.write_result("sae", {**hist, "n_train": int(x.shape[0]), "config": to_dict(ctx.cfg.sae)})
    ctx.log(f"sae: normalised MSE {hist['normalized_mse']:.4f}, dead latents {hist['dead_latents']}")
