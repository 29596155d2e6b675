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
    if not (torch.is_grad_enabled() and x.requires_grad):  # F.pad wants every grid axis named
        return F.pad(x, (*pads, *(0,) * (2 * (x.dim() - 2) - len(pads))), mode="circular")
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


#: torch's bicubic kernel (cubic convolution, A = -0.75) at the offsets an x2, align_corners=False
#: upsampling needs: even outputs sit 0.25 cells left of a source point, odd ones 0.25 right
_CUBIC_A = -0.75


def _cubic_weights(t: float) -> tuple[float, float, float, float]:
    """Weights of the four source points ``floor - 1 .. floor + 2`` at fraction ``t`` past ``floor``."""

    def near(x: float) -> float:  # |x| <= 1
        return ((_CUBIC_A + 2) * x - (_CUBIC_A + 3)) * x * x + 1

    def far(x: float) -> float:  # 1 < |x| < 2
        return ((_CUBIC_A * x - 5 * _CUBIC_A) * x + 8 * _CUBIC_A) * x - 4 * _CUBIC_A

    return far(t + 1), near(t), near(1 - t), far(2 - t)


_EVEN, _ODD = _cubic_weights(0.75), _cubic_weights(0.25)


def _upsample_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    padded = periodic_pad_axis(x, dim, 2, 2)
    # output 2i: source points i-2 .. i+1 (padded i .. i+3); output 2i+1: i-1 .. i+2 (padded i+1 .. i+4)
    even = sum(w * padded.narrow(dim, k, n) for k, w in enumerate(_EVEN))
    odd = sum(w * padded.narrow(dim, k + 1, n) for k, w in enumerate(_ODD))
    shape = list(x.shape)
    shape[dim] = 2 * n
    return torch.stack([even, odd], dim=dim + 1).reshape(shape)


def periodic_pad_axis(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """``x`` padded periodically along one axis ``dim`` (non-negative)."""
    pads = [0, 0] * (x.dim() - 1 - dim) + [before, after]
    return periodic_pad(x, pads)


def periodic_bicubic_upsample(x: torch.Tensor) -> torch.Tensor:
    """x2 bicubic upsampling of a periodic field ``(batch, channels, H, W)`` -> ``(batch, channels, 2H, 2W)``:
    ``F.interpolate(scale_factor=2, mode="bicubic")`` with the stencil wrapping round the domain instead
    of clamping at its edges, done as two separable 4-tap stencils (no padded copy to interpolate and crop)."""
    return _upsample_axis(_upsample_axis(x, x.dim() - 2), x.dim() - 1)
