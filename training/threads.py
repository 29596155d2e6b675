"""CPU threading defaults that keep pdeop usable on a busy machine (measured by ``benchmarks/contention.py``).

On 2 cores with other CPU-bound processes beside it, two intra-op threads whose
OpenMP partners spin while waiting (``OMP_WAIT_POLICY=ACTIVE``) made 2D solves and
generation 70-190x slower (the spinning thread burns the time slice its descheduled
partner needs); one thread was never more than the fair share slower, and on a quiet
machine it was the fastest or within 2x of the fastest. So on machines with at most
``SMALL_MACHINE_CORES`` cores:

- ``--threads`` defaults to 1 (every command takes ``--threads N``; ``PDEOP_THREADS``
  sets the default);
- ``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` (a user's value is kept): it only
  matters with more threads, where it averts the collapse (at up to 3x on a quiet
  machine). OpenMP reads it when it loads, so ``prepare_environment`` runs before
  torch is imported (the ``pdeop`` command does it first thing).

On larger machines (not measured here) torch's and OpenMP's own defaults stay.
"""

from __future__ import annotations

import os

SMALL_MACHINE_CORES = 2
WAIT_POLICY = "PASSIVE"


def _small_machine() -> bool:
    return (os.cpu_count() or 1) <= SMALL_MACHINE_CORES


def prepare_environment() -> None:
    """On a small machine, set the OpenMP wait policy (unless already set); call before torch loads."""
    if _small_machine():
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def default_threads() -> int | None:
    """``PDEOP_THREADS`` when set (a positive integer), else 1 on a small machine, else None (torch's default)."""
    text = os.environ.get("PDEOP_THREADS")
    if text:
        if not text.isdigit() or int(text) < 1:
            from solvers.errors import InputError

            raise InputError(f"PDEOP_THREADS must be a positive integer, got {text!r}")
        return int(text)
    return 1 if _small_machine() else None


def apply_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads (``None``: the default); returns the number in use."""
    import torch

    count = threads or default_threads()
    if count is not None:
        torch.set_num_threads(count)
    return torch.get_num_threads()
