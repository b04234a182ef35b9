"""Data-parallel helpers of the encoder stage under torchrun (gloo on CPU).

Launched with ``torchrun --nproc_per_node N -m training.encoder_train``: the ranks agree on when to
stop, wait for each other around the feature cache, and can prove their parameters stayed in sync
(``param_digest``, read by ``tests/test_encoder_ddp.py``). A single process needs none of it:
every helper is a no-op when ``world == 1``.
"""

from __future__ import annotations

import hashlib
import os

import torch

def init_dist():
    """(rank, world) and initialise gloo when launched by torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier(world):
    """Wait for every rank (nothing to wait for in one process)."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def param_digest(model: torch.nn.Module) -> str:
    """sha256 over every trainable parameter (name + exact bytes), for cross-rank comparison.

    BatchNorm running statistics are left out: DDP broadcasts rank 0's before each forward, and
    each rank then updates them from its own shard, so they legitimately differ after a step.
    """
    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def stop_now(local: bool, world: int) -> bool:
    """True when any rank is out of time (all ranks must stop on the same step under DDP)."""
    if world == 1:
        return local
    import torch.distributed as dist

    flag = torch.tensor([1.0 if local else 0.0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)

