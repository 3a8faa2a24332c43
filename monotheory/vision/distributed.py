"""DDP helpers: detect ``torchrun`` (env ``RANK`` / ``WORLD_SIZE``), set up the process group, rank-0 I/O.

Under ``torchrun --nproc_per_node=K`` every stage runs on every rank (NCCL on GPU, gloo on CPU):

- pretraining: DDP, a ``DistributedSampler``, contrastive keys gathered across ranks;
- the SAE: DDP (each rank encodes / reads its share of every global batch, gradients averaged);
- feature extraction (probe, SAE and shift stages): each rank extracts a contiguous block of whole batches
  (:func:`shard_bounds`; input noise keeps its per-batch seeds), the blocks are joined through files in the
  shared output folder (:func:`gather_to_file`) — one node, or a folder every node sees;
- fine-tuning: the independent runs are spread over the ranks (run k on rank k mod K);
- probes are fitted on rank 0 (linear models on cached features: seconds).

Batch sizes are per process: the global batch of pretraining and of the SAE is ``batch_size × K``.
Logging, result files and checkpoints are written by rank 0 (fine-tuning runs by the rank that ran them), and
every result JSON records ``world_size``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from monotheory.files import atomic_torch_save


@dataclasses.dataclass
class DistInfo:
    """The process's place in the job: ``rank``, ``world_size``, ``local_rank``; ``enabled`` under DDP."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device_type: str) -> DistInfo:
    """Initialise ``torch.distributed`` when launched by torchrun with WORLD_SIZE > 1; else a single process.

    The backend is NCCL for ``device_type == "cuda"``, gloo otherwise. Each rank uses GPU ``LOCAL_RANK``.
    """
    world = env_world_size()
    if world <= 1:
        return DistInfo()
    import torch
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, enabled=True)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank (used to agree on errors and resume points)."""
    if not info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def shard_bounds(n_batches: int, info: DistInfo) -> tuple[int, int]:
    """This rank's contiguous block ``[lo, hi)`` of ``n_batches`` batches (blocks differ in size by at most one)."""
    return n_batches * info.rank // info.world_size, n_batches * (info.rank + 1) // info.world_size


def all_reduce_sum(values, info: DistInfo, device) -> list[float]:
    """The element-wise sum of ``values`` over all ranks (the values themselves without DDP)."""
    if not info.enabled:
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_to_file(tensors: dict, path, info: DistInfo) -> dict:
    """Concatenate every rank's ``tensors`` (same keys, joined along dim 0 in rank order) into ``path`` and
    return the whole on every rank. Each rank writes its part beside ``path``; rank 0 joins, writes ``path``
    atomically and removes the parts; the others then read ``path``."""
    import torch

    path = Path(path)
    if not info.enabled:
        atomic_torch_save(tensors, path)
        return tensors
    parts = [path.with_name(f".{path.stem}.part{r}of{info.world_size}.pt") for r in range(info.world_size)]
    atomic_torch_save(tensors, parts[info.rank])
    barrier(info)
    if info.is_main:
        loaded = [torch.load(p, weights_only=True) for p in parts]
        whole = {k: torch.cat([d[k] for d in loaded]) for k in tensors}
        atomic_torch_save(whole, path)
        for p in parts:
            p.unlink()
    barrier(info)
    return whole if info.is_main else torch.load(path, weights_only=True)
