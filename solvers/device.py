"""Reading a device name from the user: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked against this machine."""

from __future__ import annotations

import torch

from solvers.errors import InputError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str | torch.device, allow_auto: bool = True) -> torch.device:
    """The device ``name`` means here; InputError for unknown names, other device types or absent GPUs.

    ``auto`` is the GPU when there is one, else the CPU.
    """
    if isinstance(name, str) and name == "auto" and allow_auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {name!r}; use {DEVICE_CHOICES}") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"device {name!r} is not supported; use {DEVICE_CHOICES}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} asked for, but CUDA is not available here; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    return device
