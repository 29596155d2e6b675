"""torchrun / DDP set-up: who this process is, and loud failures for half-configured launches.

Launch with ``torchrun --nproc-per-node G -m training.cli train ...`` on one
machine, or on several with ``--nnodes N --node-rank R --rdzv-endpoint HOST:PORT``
(torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). CUDA
processes use NCCL, CPU processes gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from solvers.errors import InputError

REQUIRED = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class LaunchError(InputError):
    """A multi-process launch that is configured only in part."""


@dataclass
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_environment() -> DistributedContext:
    """Read torchrun's variables; raise RuntimeError when a multi-process launch is half configured."""
    world = os.environ.get("WORLD_SIZE")
    if world is None or int(world) <= 1:
        return DistributedContext()
    missing = [name for name in REQUIRED if name not in os.environ]
    if missing:
        raise LaunchError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch multi-process training with torchrun "
            "(refusing to train as a single process)"
        )
    return DistributedContext(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(world))


def initialise(context: DistributedContext, device: torch.device) -> None:
    """Join the process group (no-op for one process)."""
    if not context.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise LaunchError(
                f"LOCAL_RANK {context.local_rank} but only {torch.cuda.device_count()} GPU(s) here: "
                "use --nproc-per-node <= the number of GPUs"
            )
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != context.world_size:
        raise LaunchError(f"process group has {dist.get_world_size()} processes, WORLD_SIZE says {context.world_size}")


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a tensor over processes (identity for one process)."""
    if context.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
