"""Distributed data parallel (torchrun, Lightning's and Accelerate's DDP): what each rank does.

Every rank runs the monitor's hooks, so every rank does the same work and the collective calls
line up. Gradient and weight norms need no reduction: after DDP's all-reduce every rank holds the
same gradients and weights. What differs by rank is reduced, in one ``all_reduce`` per pull of
device values (every ``sync_every`` steps, never per step): the loss and the other scalars passed
to ``mon.step``, and the activation statistics (averaged over ranks: each rank saw its own batch).
Only rank 0 writes the log and runs the live diagnosis; its decision to stop is shared in the
same all-reduce, so that every rank raises :class:`TrainingStopped` at the same step.

Sharded training (FSDP, ZeRO) is not covered: there each rank holds a slice of the gradients.
"""

from __future__ import annotations

import torch


def rank_and_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # a broken or half-initialised process group: act as one process
        pass
    return 0, 1


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of ``t`` over the ranks, as a new tensor (``t`` is not modified). On NCCL the
    reduction is queued on the GPU and the host does not wait for it."""
    import torch.distributed as dist

    x = t.detach().clone()
    dist.all_reduce(x)
    return x.div_(dist.get_world_size())
