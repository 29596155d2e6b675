"""Periodic padding by slices (``operators.layers.periodic``) equals torch's circular padding, values and
gradients, so that the convolutions built on it are the same functions with the same parameters."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from operators.layers.periodic import PeriodicConv1d, PeriodicConv2d, periodic_pad


@pytest.mark.parametrize(
    "shape, pads", [((2, 3, 9), (2, 1)), ((2, 3, 8, 6), (1, 1, 2, 0)), ((1, 2, 5, 7), (2, 2, 2, 2))]
)
def test_periodic_pad_matches_circular_padding_and_its_gradient(shape, pads):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(F.pad(x.detach(), pads, mode="circular").shape, dtype=torch.float64)
    ours = periodic_pad(x, pads)
    theirs = F.pad(x, pads, mode="circular")
    assert torch.equal(ours, theirs)
    (mine,) = torch.autograd.grad((ours * weights).sum(), x)
    (reference,) = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(mine, reference)
    with torch.no_grad():
        assert torch.equal(periodic_pad(x, pads), theirs)


@pytest.mark.parametrize(
    "ours, theirs, shape", [(PeriodicConv2d, nn.Conv2d, (2, 3, 8, 8)), (PeriodicConv1d, nn.Conv1d, (2, 3, 16))]
)
@pytest.mark.parametrize("stride", [1, 2])
def test_periodic_convolutions_are_circular_convolutions(ours, theirs, shape, stride):
    torch.manual_seed(0)
    reference = theirs(3, 4, 3, stride=stride, padding=1, padding_mode="circular").double()
    conv = ours(3, 4, 3, stride=stride, padding=1, padding_mode="circular").double()
    conv.load_state_dict(reference.state_dict())
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(conv(x), reference(x))
    (mine,) = torch.autograd.grad(conv(x).square().sum(), x)
    (expected,) = torch.autograd.grad(reference(x).square().sum(), x)
    torch.testing.assert_close(mine, expected)
    zeros = ours(3, 4, 3, padding=1).double()  # other padding modes are nn.ConvNd's own
    zeros.load_state_dict(reference.state_dict())
    torch.testing.assert_close(
        zeros(x),
        F.conv2d(x, zeros.weight, zeros.bias, padding=1)
        if x.dim() == 4
        else F.conv1d(x, zeros.weight, zeros.bias, padding=1),
    )


def test_periodic_bicubic_upsampling_is_bicubic_interpolation_of_the_periodic_extension():
    """The separable stencils give what SineNet computed before: pad 2 cells circularly, interpolate
    (torch's bicubic, x2), crop 4, in values and gradients, on odd and even grids."""
    from operators.layers.periodic import periodic_bicubic_upsample

    x = torch.randn(2, 3, 5, 8, dtype=torch.float64, requires_grad=True)
    padded = F.pad(x, (2, 2, 2, 2), mode="circular")
    reference = F.interpolate(padded, scale_factor=2, mode="bicubic")[..., 4:-4, 4:-4]
    ours = periodic_bicubic_upsample(x)
    assert ours.shape == (2, 3, 10, 16)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(reference)
    (mine,) = torch.autograd.grad((ours * weights).sum(), x)
    (expected,) = torch.autograd.grad((reference * weights).sum(), x)
    torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # outside autograd the pads go through F.pad
        torch.testing.assert_close(periodic_bicubic_upsample(x), reference, rtol=1e-12, atol=1e-12)
    constant = torch.full((1, 1, 4, 4), 2.5, dtype=torch.float64)  # the weights sum to one
    torch.testing.assert_close(periodic_bicubic_upsample(constant), torch.full((1, 1, 8, 8), 2.5, dtype=torch.float64))
