"""DDP helpers: detect ``torchrun`` (env ``RANK`` / ``WORLD_SIZE``), set up the process group, rank-0 I/O.

Under ``torchrun --nproc_per_node=K`` the pipeline pretrains with DDP (NCCL on GPU, gloo on CPU), a
``DistributedSampler`` and contrastive keys gathered across ranks. Logging, result files and checkpoints
are written by rank 0 only; the SAE, probe, fine-tune and shift stages run on rank 0 alone (the other ranks
leave after pretraining), since they are cheap next to pretraining.
"""

from __future__ import annotations

import dataclasses
import os


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
