"""Batched toy models of superposition (Elhage et al. 2022), with monosemantic variants.

Conventions (the same as the theory layer):

* ``sparsity`` S = probability that a feature is **zero**; ``feature_probability`` = 1 − S. A feature is
  x_i = 0 with probability S, else U[0, 1) (spike-and-uniform), independently.
* A model holds ``I`` *instances* in one tensor: ``W`` has shape (I, m, n), ``b`` shape (I, n). Instance k
  has its own regime, seed and sparsity; instances never interact (the loss is a sum over instances,
  Adam is element-wise), so training I instances at once equals training each alone.
* h = W x ∈ R^m (hidden code), x' = ReLU(Wᵀ h + b), loss = mean over the batch of Σ_i I_i (x_i − x'_i)².

Regimes (what makes a model monosemantic here is an assumption; the paper does not say):

``poly``
    The standard model: h = W x, W unconstrained. Superposition appears when features are sparse.
``mono-nonneg``
    Non-negative hidden code, h = ReLU(W x): the toy analogue of NCL, which puts a ReLU on the
    projector output. It is the activation, not the weights, that NCL constrains, so this is the default
    non-negative regime. Antipodal pairs (the main trick of superposition) become useless: ReLU(x_a − x_b)
    loses x_b.
``mono-nonneg-w``
    Non-negative weights, W ≥ 0 (projected after every Adam step): h = W x ≥ 0 for x ≥ 0, and two
    features sharing a neuron can no longer cancel each other's interference (only the output bias can
    filter it). A stronger constraint than NCL's; offered to show how much the choice matters.
``mono-l1``
    h = ReLU(W x) with an L1 penalty λ·Σ_j h_j added to the loss (``l1_penalty``): the toy analogue of a
    sparse autoencoder's code (non-negative and sparse). An L1 penalty on a *linear* code does not favour
    monosemanticity here: an antipodal pair h = x_a − x_b costs |x_a − x_b|, no more than one feature per
    unit when features are sparse (we measured: λ = 0.2 keeps the antipodal pairs, λ = 1 kills the code).
``mono-topk``
    h = TopK(ReLU(W x)): only the k largest positive entries of the code survive (``topk``), trained on clean
    reconstruction like the others. The analogue of a top-k sparse autoencoder (Gao et al. 2024) and of NCL's
    sparse non-negative codes; it controls for nothing by itself: whether it is monosemantic is *measured*
    (:func:`monotheory.metrics.monosemantic_verdict`), not assumed.
``oracle``
    Hand-built, not trained: hidden unit j is feature j for the m most important features (W = [I_m | 0]
    up to the importance order), b = 0. Monosemantic by construction, dense (a linear code), no
    superposition: the ideal of a monosemantic encoder.
``oracle-rot``
    The oracle's subspace in a random orthonormal basis, W = R·[I_m | 0] (R Haar-distributed, drawn from the
    seed's ``"oracle-rot"`` stream). The same linear information as the oracle in a dense, mixed basis: it
    controls for the *basis* (a linear probe is invariant to any invertible map of h, so every accuracy must
    equal the oracle's).
``oracle-topk``
    The oracle with the top-k code of ``mono-topk``: monosemantic AND sparse. Against ``oracle`` it controls
    for the *sparsity* of the code at fixed monosemanticity.
``dense-trained``
    ``poly`` trained on dense features (S = 0) and evaluated at the target S: a trained linear code without
    the superposition that sparse training data produces. It controls for superposition at fixed training
    procedure (the analogue of an encoder whose pretraining data did not favour superposition).

Codes with a per-unit nonlinearity (``PER_UNIT_CODES``: ReLU or top-k) have a privileged basis; for the
linear codes (``poly``, ``mono-nonneg-w``, ``oracle``, ``oracle-rot``, ``dense-trained``) only basis-free
measures mean anything (see :mod:`monotheory.metrics`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from monotheory.config import check_choice, check_int, check_range
from monotheory.errors import ConfigError
from monotheory.seeding import torch_generator
from monotheory.toy import fused as _fused
from monotheory.toy.config import HAND_BUILT, IMPORTANCES, PER_UNIT_CODES, TOPK_REGIMES, ToyConfig
from monotheory.toy.sampler import FeatureSampler, spike_and_uniform  # noqa: F401 (their old home)


def importance_weights(n: int, kind: str = "uniform", decay: float = 0.9) -> torch.Tensor:
    """Importance I_i of each feature: all ones (``uniform``) or ``decay ** i`` (``geometric``), shape (n,)."""
    check_int("n", n)
    check_choice("importance", kind, IMPORTANCES)
    check_range("importance_decay", decay, 0.0, 1.0, lo_closed=False)
    if kind == "uniform":
        return torch.ones(n)
    return decay ** torch.arange(n, dtype=torch.float32)


class ToyModel(nn.Module):
    """I toy models in one module, built from their config: ``W`` (I, m, n), ``b`` (I, n); instance k has
    ``regimes[k]`` and ``seeds[k]``.

    ``ToyModel(cfg)`` holds every regime of ``cfg.regimes`` × every seed of ``cfg.seeds`` (regime-major);
    ``ToyModel(cfg, regimes, seeds)`` the listed instances (one regime of ``cfg.regimes`` and one seed each; a
    regime or seed may repeat, e.g. for several sparsities). ``cfg`` gives n, m, the importance of the loss
    (``cfg.importance``, ``cfg.importance_decay``; the oracle keeps the m features with the largest importance,
    ties broken by index), the λ of ``mono-l1`` instances (``cfg.l1_penalty``) and the k of the top-k codes
    (``cfg.topk``); :class:`ToyConfig` has checked them.
    W is initialised Xavier-normal from each instance's seed's ``("toy", "init")`` stream, so instances that share
    a seed share their initial W (mono-nonneg-w starts from |W|); b starts at 0.

    The old form ``ToyModel(n, m, regimes, seeds, *, importance=None, l1_penalty=0.0, topk=None)`` still works for
    one release, with a ``DeprecationWarning``.
    """

    def __init__(self, cfg: ToyConfig | None = None, regimes: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None, *args, **kwargs):
        super().__init__()
        importance = None
        if not isinstance(cfg, ToyConfig):
            warnings.warn("ToyModel(n, m, regimes, seeds, ...) is deprecated; build the model from its config: "
                          "ToyModel(ToyConfig(n=..., m=..., regimes=..., topk=...), regimes, seeds)",
                          DeprecationWarning, stacklevel=2)
            cfg, regimes, seeds, importance = _from_old_arguments(cfg, regimes, seeds, args, kwargs)
        elif args or kwargs:
            raise ConfigError(f"ToyModel(cfg, regimes, seeds) takes no other arguments; got {len(args)} more "
                              f"positional and {sorted(kwargs)} (the config carries n, m, importance, l1_penalty "
                              "and topk)")
        if (regimes is None) != (seeds is None):
            raise ConfigError("give both regimes and seeds (one per instance), or neither (cfg.regimes × cfg.seeds)")
        if regimes is None:
            regimes = [r for r in cfg.regimes for _ in cfg.seeds]
            seeds = [s for _ in cfg.regimes for s in cfg.seeds]
        if len(regimes) != len(seeds) or not regimes:
            raise ConfigError(f"need one seed per regime and at least one instance, got {len(regimes)} regimes "
                              f"and {len(seeds)} seeds")
        for r in regimes:
            check_choice("regime", r, cfg.regimes)
        n, m = cfg.n, cfg.m
        self.cfg = cfg
        self.topk = cfg.topk
        self.n, self.m, self.regimes, self.seeds = n, m, list(regimes), [int(s) for s in seeds]
        imp = importance_weights(n, cfg.importance, cfg.importance_decay) if importance is None else importance
        self.register_buffer("importance", imp)
        flag = lambda names: torch.tensor([r in names for r in regimes]).view(-1, 1, 1)  # noqa: E731
        self.register_buffer("relu_hidden", flag(PER_UNIT_CODES))
        self.register_buffer("topk_code", flag(TOPK_REGIMES))
        self.register_buffer("nonneg_w", flag({"mono-nonneg-w"}))
        self.register_buffer("trainable", ~flag(HAND_BUILT))
        self.register_buffer("l1", torch.tensor([cfg.l1_penalty if r == "mono-l1" else 0.0 for r in regimes]))
        W = torch.empty(len(regimes), m, n)
        std = (2.0 / (m + n)) ** 0.5
        for k, s in enumerate(self.seeds):  # once, at construction: W0 depends only on the seed
            W[k] = torch.randn(m, n, generator=torch_generator(s, "toy", "init")) * std
        W = torch.where(self.nonneg_w, W.abs(), W)
        self.W = nn.Parameter(W)
        self.b = nn.Parameter(torch.zeros(len(regimes), n))
        with torch.no_grad():
            self.set_oracle_()

    @property
    def instances(self) -> int:
        return self.W.shape[0]

    def set_oracle_(self) -> None:
        """Write the hand-built weights into every hand-built instance: [I_m | 0] (in importance order) for
        ``oracle`` and ``oracle-topk``, R·[I_m | 0] with R from the seed's ``"oracle-rot"`` stream for
        ``oracle-rot``."""
        order = torch.argsort(-self.importance, stable=True)[: self.m]
        eye = torch.zeros(self.m, self.n, device=self.W.device)
        eye[torch.arange(self.m), order] = 1.0
        mask = ~self.trainable
        hand = eye.expand_as(self.W).clone()
        for k, r in enumerate(self.regimes):
            if r == "oracle-rot":
                hand[k] = random_rotation(self.m, self.seeds[k]).to(eye.device) @ eye
        self.W.copy_(torch.where(mask, hand, self.W))
        self.b.copy_(torch.where(mask.view(-1, 1), torch.zeros_like(self.b), self.b))

    def _code(self, h: torch.Tensor, relu: torch.Tensor, topk: torch.Tensor) -> torch.Tensor:
        """The code a from pre-activations h (I, N, m): ReLU where ``relu``; where ``topk``, also zero all but
        the k largest entries of each sample (entries tied with the k-th largest are kept: a tie of positive
        values has probability 0, and zeros stay zero either way)."""
        # one pass: max(h, 0) for the ReLU codes, max(h, −∞) = h for the linear ones (a broadcast where()
        # with a per-instance flag was the slowest op of a training step on a CPU)
        a = torch.maximum(h, torch.where(relu, 0.0, float("-inf")).to(h.dtype))
        if self.topk < self.m and bool(topk.any()):
            a = a.masked_fill((a < _kth_largest(a, self.topk)) & topk, 0.0)
        return a

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden code h of x (I, N, n) → (I, N, m); ReLU'd for the ReLU codes, top-k for the top-k codes."""
        h = torch.einsum("imn,ibn->ibm", self.W, x)
        return self._code(h, self.relu_hidden, self.topk_code)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Reconstruction x' = ReLU(Wᵀ h + b), (I, N, m) → (I, N, n)."""
        return torch.relu(torch.einsum("imn,ibm->ibn", self.W, h) + self.b.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encode(x)
        return self.decode(h), h

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Per-instance loss (I,): importance-weighted squared error (+ λ·mean Σ_j |h_j| for mono-l1)."""
        xr, h = self(x)
        rec = ((x - xr) ** 2 * self.importance).sum(-1).mean(-1)
        return rec + self.l1 * h.abs().sum(-1).mean(-1)

    @torch.no_grad()
    def loss_and_grads(self, x: torch.Tensor, *, with_loss: bool = True, instances: slice = slice(None),
                       fused: bool | None = None, buffers: dict | None = None):
        """Per-instance loss (or None) and the gradients of its sum w.r.t. W and b, by hand, for the
        ``instances`` slice (x holds that slice's data).

        ``fused``: the elementwise stages as one-pass Numba kernels (:mod:`monotheory.toy.fused`); None: when
        Numba is installed and the tensors are float32 on the CPU. Otherwise the torch form below.
        ``buffers`` (fused form only): a dict the caller keeps per chunk of instances; the returned tensors
        then live in it and are overwritten by the next call with the same dict.

        The same numbers as ``loss(x).sum().backward()`` (tested) in about half the passes over the
        (I, batch, n) tensors — on a CPU the trainer is bound by those passes, not by Python overhead.
        With z = Wᵀa + b, d = ReLU(z) − x: G = (2/B)·I⊙d⊙1[z>0], ∂/∂b = Σ_batch G,
        ∂/∂W = aᵀG + (∂L/∂h)ᵀx with ∂L/∂a = G Wᵀ + (λ/B)·sign(a) and ∂L/∂h = ∂L/∂a ⊙ 1[h>0] for ReLU codes.
        """
        if fused is None:
            fused = x.device.type == "cpu" and x.dtype == torch.float32 and _fused.available()
        if fused:
            if not _fused.available():
                raise ConfigError("fused = True needs the optional package numba (pip install monotheory[fast]); "
                                  "allowed without it: fused = False or None")
            if x.device.type != "cpu" or x.dtype != torch.float32:
                raise ConfigError(f"fused = True needs float32 CPU tensors, got x of dtype {x.dtype} on "
                                  f"{x.device}; allowed otherwise: fused = False or None")
            return self._loss_and_grads_fused(x, with_loss, instances, buffers)
        W, b, relu, l1 = self.W[instances], self.b[instances], self.relu_hidden[instances], self.l1[instances]
        B = x.shape[1]
        h = torch.bmm(x, W.transpose(1, 2))                            # (I, B, m)
        a = self._code(h, relu, self.topk_code[instances])
        z = torch.baddbmm(b.unsqueeze(1), a, W).clamp_(min=0.0)       # ReLU(z), (I, B, n)
        d = z - x
        loss = None
        if with_loss:
            loss = (d.square() @ self.importance).sum(-1) / B + l1 * a.abs().sum((-2, -1)) / B
        # ReLU's backward in one fused pass (zero where ReLU(z) = 0, i.e. z ≤ 0). The loss weights
        # c = (2/B)·I (n,) are folded into the small tensors instead of a pass over G: G_true = G·diag(c)
        c = self.importance * (2.0 / B)
        G = torch.ops.aten.threshold_backward(d, z, 0.0)
        gb = G.sum(1).mul_(c)
        da = torch.bmm(G, (W * c).transpose(1, 2))                     # (I, B, m)
        if bool(l1.any()):  # only mono-l1 (a ReLU code, a ≥ 0: sign(a) = 1[a > 0]); λ = 0 elsewhere
            da.addcmul_((l1 * (1.0 / B)).view(-1, 1, 1), a.sign())
        # the code passes gradient where it passes h: ReLU'd and top-k-dropped entries (a = 0 ≠ h) stop it;
        # a linear code passes it everywhere (its mask is +∞ > 0)
        mask = a if bool(relu.all()) else torch.maximum(a, torch.where(relu, 0.0, float("inf")).to(a.dtype))
        dh = torch.ops.aten.threshold_backward(da, mask, 0.0)
        gW = torch.bmm(a.transpose(1, 2), G).mul_(c).baddbmm_(dh.transpose(1, 2), x)
        return loss, gW, gb

    def _loss_and_grads_fused(self, x: torch.Tensor, with_loss: bool, instances: slice, buffers: dict | None):
        """:meth:`loss_and_grads` with the three elementwise stages fused (five products, three passes).
        ``buffers``: a dict kept by the caller between calls on the same shapes; the step's tensors are
        reused from it instead of allocated (fresh multi-MB tensors cost page faults on every step)."""
        code, output_grad, hidden_grad, _ = _fused.kernels()
        W, b = self.W[instances].detach(), self.b[instances].detach()
        relu = self.relu_hidden[instances].view(-1).numpy()
        topk = self.topk_code[instances].view(-1).numpy()
        l1 = self.l1[instances]
        c, B, _ = x.shape
        x = x.contiguous()
        buf = {} if buffers is None else buffers
        if buf.get("shape") != (c, B):
            buf.update(shape=(c, B), a=torch.empty(c, B, self.m), G=torch.empty(c, B, self.n),
                       dh=torch.empty(c, B, self.m), gW=torch.empty(c, self.m, self.n), gb=torch.empty(c, self.n),
                       loss=torch.empty(c), l1_sum=torch.empty(c, dtype=torch.float64))
        a, G, dh, gW, gb, loss = buf["a"], buf["G"], buf["dh"], buf["gW"], buf["gb"], buf["loss"]
        cvec = self.importance * (2.0 / B)                              # loss weights, folded in below
        torch.bmm(x, W.transpose(1, 2), out=a)                         # h, then the code a in place
        code(a.numpy(), relu, topk, self.topk)
        torch.baddbmm(b.unsqueeze(1), a, W, out=G)                      # z, then G (unweighted) in place
        output_grad(G.numpy(), x.numpy(), self.importance.double().numpy(), gb.numpy(), loss.numpy(), with_loss)
        gb.mul_(cvec)
        torch.bmm(G, (W * cvec).transpose(1, 2), out=dh)                # ∂L/∂a, then ∂L/∂h in place
        hidden_grad(dh.numpy(), a.numpy(), relu, (l1.double() / B).numpy(), buf["l1_sum"].numpy(), with_loss)
        torch.bmm(a.transpose(1, 2), G, out=gW).mul_(cvec).baddbmm_(dh.transpose(1, 2), x)
        if with_loss:
            loss += (l1.double() * buf["l1_sum"] / B).float()
        return (loss if with_loss else None), gW, gb

    @torch.no_grad()
    def project_(self) -> None:
        """Enforce the constraints after an optimiser step: W ≥ 0 where required, oracle untouched."""
        self.W.copy_(torch.where(self.nonneg_w, self.W.clamp(min=0.0), self.W))

    def select(self, index: int | Sequence[int]) -> ToyModel:
        """A new model holding copies of the chosen instances (same weights, regimes, seeds)."""
        idx = [index] if isinstance(index, int) else list(index)
        out = ToyModel(self.cfg, [self.regimes[i] for i in idx], [self.seeds[i] for i in idx])
        with torch.no_grad():
            out.importance.copy_(self.importance.cpu())  # an old-form model's own importance vector
            out.W.copy_(self.W[idx].detach().cpu())
            out.b.copy_(self.b[idx].detach().cpu())
        return out.to(self.W.device)


def _kth_largest(a: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th largest entry along the last axis, shape (…, 1). For small k, k − 1 passes of max (each
    removing the current maximum) are about 3× faster on a CPU than ``torch.topk`` on short rows."""
    if k > 4:
        return a.topk(k, dim=-1).values[..., -1:]
    rest = a
    for _ in range(k - 1):
        rest = rest.masked_fill(rest >= rest.amax(-1, keepdim=True), float("-inf"))
    return rest.amax(-1, keepdim=True)


def random_rotation(m: int, seed: int) -> torch.Tensor:
    """A Haar-distributed m × m orthogonal matrix from the ``("toy", "oracle-rot")`` stream of ``seed``
    (QR of a Gaussian matrix with the signs of R's diagonal folded into Q, Mezzadri 2007)."""
    g = torch.randn(m, m, generator=torch_generator(int(seed), "toy", "oracle-rot"), dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r))).float()


def _old_signature(n, m, regimes, seeds, *, importance=None, l1_penalty=0.0, topk=None) -> dict:
    return dict(n=n, m=m, regimes=regimes, seeds=seeds, importance=importance, l1_penalty=l1_penalty, topk=topk)


def _from_old_arguments(n, regimes, seeds, args: tuple, kwargs: dict):
    """(cfg, regimes, seeds, importance) of the deprecated ``ToyModel(n, m, regimes, seeds, *, importance,
    l1_penalty, topk)``, positional (``n`` is then the first argument) or by keyword."""
    if n is None:  # ToyModel(n=…, m=…, regimes=…, seeds=…)
        old = _old_signature(*args, **kwargs, regimes=regimes, seeds=seeds)
    else:  # ToyModel(n, m, regimes, seeds, …): the new form's second and third slots hold m and regimes
        old = _old_signature(n, regimes, seeds, *args, **kwargs)
    n, m, regs = old["n"], old["m"], list(old["regimes"] or ())
    check_int("n", n, minimum=2)
    check_int("m", m)
    topk = m if old["topk"] is None else old["topk"]
    cfg = ToyConfig(n=n, m=m, regimes=tuple(dict.fromkeys(regs)) or ("poly",), l1_penalty=old["l1_penalty"],
                    topk=topk, noise_rate=0.0, probe_train=max(4096, n + 1))
    imp = old["importance"]
    if imp is not None:
        imp = torch.as_tensor(imp, dtype=torch.float32)
        if imp.shape != (n,):
            raise ConfigError(f"importance has shape {tuple(imp.shape)}, expected ({n},)")
    return cfg, regs, old["seeds"], imp
