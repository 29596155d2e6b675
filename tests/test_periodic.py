"""Periodic padding by slices (``operators.periodic``) equals torch's circular padding, values and
gradients, so that the convolutions built on it are the same functions with the same parameters."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from operators.periodic import PeriodicConv1d, PeriodicConv2d, periodic_pad


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
    torch.testing.assert_close(zeros(x), F.conv2d(x, zeros.weight, zeros.bias, padding=1) if x.dim() == 4
                               else F.conv1d(x, zeros.weight, zeros.bias, padding=1))  # fmt: skip
