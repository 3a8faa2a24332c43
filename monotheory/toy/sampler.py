"""The data of the toy models: spike-and-uniform features, drawn for many instances at once.

Convention (as in the theory layer): ``sparsity`` S = probability that a feature is **zero**; x_i = 0 with
probability S, else U[0, 1), independently. Every draw comes from a named stream of the instance's seed
(:mod:`monotheory.seeding`), so an instance's data never depends on which other instances share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from monotheory.config import check_sparsity
from monotheory.errors import ConfigError
from monotheory.seeding import torch_generator
from monotheory.toy import fused as _fused


def spike_and_uniform(u: torch.Tensor, sparsity: torch.Tensor | float) -> torch.Tensor:
    """Turn uniforms u ~ U[0,1) into spike-and-uniform features with P(x = 0) = ``sparsity``.

    x = max(0, (u − S) / (1 − S)): zero when u < S (probability S), and given u ≥ S, (u − S)/(1 − S) is
    U[0, 1). One uniform per feature and no comparison tensor, so data generation stays cheap; instances at
    different sparsities but the same seed share u (common random numbers, which sharpens comparisons).
    ``sparsity`` broadcasts against ``u`` (a float, or shape (I, 1, 1) for per-instance sparsities).
    """
    s = torch.as_tensor(sparsity, dtype=u.dtype, device=u.device)
    return torch.addcmul(-s / (1 - s), u, 1 / (1 - s)).clamp_(min=0.0)


class FeatureSampler:
    """Draws training batches for many instances at once, one random stream per distinct seed.

    ``seeds[k]`` and ``sparsities[k]`` belong to instance k. Instances with the same seed see the same
    uniforms (so a poly and a mono model with seed 3 are trained on the same data: a paired comparison),
    and an instance's data does not depend on which other instances are in the batch — which is what
    makes a batched run equal to a single-instance run with the same seed. There is one ``torch.rand`` call
    per distinct seed and step (not per instance), then one gather and one fused clamp per instance.
    """

    def __init__(self, n: int, seeds: Sequence[int], sparsities: Sequence[float], *, offset: int = 0,
                 device: str | torch.device = "cpu"):
        if len(seeds) != len(sparsities):
            raise ConfigError(f"got {len(seeds)} seeds but {len(sparsities)} sparsities; one of each per instance")
        for s in sparsities:
            check_sparsity("sparsity", s)
        self.n, self.device = n, torch.device(device)
        self.unique = sorted(set(int(s) for s in seeds))
        # per instance: its row of the uniforms block and its sparsity (the trainer's fused gather)
        self.instance_seed = torch.tensor([self.unique.index(int(s)) for s in seeds], device=self.device)
        self.instance_sparsity = torch.tensor([float(p) for p in sparsities], device=self.device)
        # `offset` separates the training stream from e.g. the probe-data stream of the same seed: the named
        # stream ("toy", "features", offset) of each seed (monotheory.seeding; no arithmetic on seeds)
        self.generators = [torch_generator(s, "toy", "features", int(offset), device=self.device)
                           for s in self.unique]

    def uniforms(self, batch: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Uniforms of shape (distinct seeds, batch, n): one call per distinct seed (≤ #seeds), not per
        instance. ``out``: a tensor of that shape to fill instead of a new one."""
        shape = (len(self.unique), batch, self.n)
        u = out if out is not None and out.shape == shape else torch.empty(shape, device=self.device)
        self.fill_uniforms(u)
        return u

    def fill_uniforms(self, u: torch.Tensor, rows: Sequence[int] | None = None) -> None:
        """Fill rows ``rows`` (default: all) of a uniforms block from their seeds' generators. Each row has
        its own generator, so rows can be filled by different threads without changing the numbers."""
        self._check_block(u)
        for j in range(len(self.unique)) if rows is None else rows:
            u[j].uniform_(generator=self.generators[j])

    def features(self, u: torch.Tensor, instances: slice = slice(None), out: torch.Tensor | None = None) -> torch.Tensor:
        """Features (instances, batch, n) of the ``instances`` slice from a block of :meth:`uniforms`: each
        instance's seed row, through :func:`spike_and_uniform` at its sparsity (one fused pass with Numba, into
        ``out`` when it has the right shape)."""
        self._check_block(u)
        rows, s = self.instance_seed[instances], self.instance_sparsity[instances].view(-1, 1, 1)
        if u.device.type == "cpu" and _fused.available():
            if out is None or out.shape != (len(rows), *u.shape[1:]):
                out = torch.empty(len(rows), *u.shape[1:], device=u.device)
            _fused.kernels()[3](u.numpy(), rows.numpy(), (1 / (1 - s)).view(-1).numpy(),
                                (-s / (1 - s)).view(-1).numpy(), out.numpy())
            return out
        return spike_and_uniform(u.index_select(0, rows), s)

    def _check_block(self, u: torch.Tensor) -> None:
        """A uniforms block of this sampler: (distinct seeds, batch, n), float32 (the fused kernels read it raw)."""
        if u.dim() != 3 or u.shape[0] != len(self.unique) or u.shape[2] != self.n or u.dtype != torch.float32:
            raise ConfigError(f"u has shape {tuple(u.shape)} and dtype {u.dtype}; this sampler's uniforms block "
                              f"is float32 of shape ({len(self.unique)}, batch, {self.n}) (see uniforms())")

    def __call__(self, batch: int) -> torch.Tensor:
        """Features of shape (I, batch, n)."""
        return self.features(self.uniforms(batch))
