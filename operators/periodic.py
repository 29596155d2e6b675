"""Periodic (circular) padding that is cheap to differentiate, and convolutions that use it.

``torch.nn.functional.pad(..., mode="circular")`` is quick forward but its backward folds the border
back in many small copies (about twenty per 3x3 convolution on a 64^2 field, measured with the torch
profiler): a SineNet trained with circular padding spent about a third more per step than with zero
padding. ``periodic_pad`` builds the padded tensor from slices with one ``torch.cat`` per axis, whose
backward is one slice per piece; outside autograd it keeps ``F.pad``, the quicker forward.
``PeriodicConv1d`` / ``PeriodicConv2d`` are ``nn.Conv1d`` / ``nn.Conv2d`` (same parameters, same
state dict) that pad this way when ``padding_mode="circular"``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def periodic_pad(x: torch.Tensor, pads: list[int] | tuple[int, ...]) -> torch.Tensor:
    """``x`` padded periodically; ``pads`` as ``F.pad`` takes them (last axis first: left, right, ...)."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return F.pad(x, tuple(pads), mode="circular")
    for axis, (before, after) in enumerate(zip(pads[::2], pads[1::2], strict=True)):
        dim = x.dim() - 1 - axis
        size = x.shape[dim]
        if before > size or after > size:
            raise ValueError(f"periodic padding of {max(before, after)} cells exceeds the axis of {size}")
        pieces = [x.narrow(dim, size - before, before)] if before else []
        pieces.append(x)
        if after:
            pieces.append(x.narrow(dim, 0, after))
        x = torch.cat(pieces, dim=dim) if len(pieces) > 1 else x
    return x


class _PeriodicPadding:
    """Mixin for ``nn.ConvNd``: circular padding through ``periodic_pad``; other modes unchanged."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode != "circular":
            return super()._conv_forward(input, weight, bias)
        padded = periodic_pad(input, self._reversed_padding_repeated_twice)
        convolution = F.conv1d if self.weight.dim() == 3 else F.conv2d
        return convolution(padded, weight, bias, self.stride, 0, self.dilation, self.groups)


class PeriodicConv1d(_PeriodicPadding, nn.Conv1d):
    pass


class PeriodicConv2d(_PeriodicPadding, nn.Conv2d):
    pass


def periodic_conv(ndim: int) -> type[nn.Module]:
    """The convolution class for ``ndim`` grid axes (1 or 2)."""
    return PeriodicConv1d if ndim == 1 else PeriodicConv2d
