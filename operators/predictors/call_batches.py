"""Cache-sized model calls: fast inference rolls a large CPU batch out a group of trajectories at a time.

A model call on a large batch streams activations far larger than the CPU's caches; rolled out a few
trajectories at a time, each group's activations stay in the cache for every step of its rollout, as the
spectral solvers step their batches in cache-sized chunks (``solvers.base.CACHE_CHUNK_BYTES``). The samples
of a batch do not interact, so the results are the whole batch's up to float rounding. On a GPU the whole
batch goes in one call (a GPU wants large batches). ``docs/models.md`` ("Fast inference") has the
measurements behind ``CPU_CALL_POINTS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from solvers.base import chunk_workers
from solvers.errors import InputError

#: grid points per model call that fast inference gives the CPU: 8 states of 64^2 (``docs/models.md``)
CPU_CALL_POINTS = 8 * 64 * 64


def check_call_batch(call_batch: object) -> None:
    """Refuse a ``call_batch`` setting other than a positive integer, None (the whole batch) or ``"auto"``."""
    if call_batch in (None, "auto"):
        return
    if isinstance(call_batch, bool) or not isinstance(call_batch, int) or call_batch < 1:
        raise InputError(f"call_batch must be a positive integer, None (whole batch) or 'auto', got {call_batch!r}")


def trajectories_per_call(states: torch.Tensor, call_batch: int | str | None, fast: bool, device: torch.device) -> int:
    """How many trajectories of ``states`` ``(batch, history, channels, *grid)`` one model call on ``device``
    takes: ``call_batch`` when it is a number, the whole batch for None, and for ``"auto"`` as many as make
    ``CPU_CALL_POINTS`` grid points when ``fast`` and the device is a CPU (else the whole batch)."""
    batch = len(states)
    if call_batch == "auto":
        wanted = CPU_CALL_POINTS // math.prod(states.shape[3:]) if fast and device.type == "cpu" else batch
    else:
        wanted = batch if call_batch is None else call_batch
    return max(1, min(batch, wanted))


def in_call_batches(size: int, rollout: Callable, *tensors: torch.Tensor | None):
    """``rollout(*tensors)`` on groups of ``size`` samples (axis 0; a None passes through), each group rolled
    out whole; the outputs (a tensor or a tuple of them) joined along axis 0. On the CPU with several torch
    threads the groups run side by side, one thread each, as the solvers' chunks do (``chunk_workers``):
    ``rollout`` must then set its own autograd and autocast modes, which are per thread."""
    batch = len(tensors[0])
    if size >= batch:
        return rollout(*tensors)
    groups = [[None if t is None else t[start : start + size] for t in tensors] for start in range(0, batch, size)]
    with chunk_workers(len(groups), tensors[0].device) as pool:
        outputs = list(pool.map(lambda group: rollout(*group), groups))
    if isinstance(outputs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outputs))
    return torch.cat(outputs)
