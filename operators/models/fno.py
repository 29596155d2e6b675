"""FNO baseline: the ``neuraloperator`` package's Fourier neural operator, configured from our data.

``modes`` counts Fourier modes per axis as in the FNO paper (``fourier_2d_time.py``
keeps wavenumbers ``0..modes-1`` on the last, real-FFT axis and ``-modes..modes-1``
on the others). neuraloperator 2.0 keeps ``n_modes[-1] // 2 + 1`` on the last axis
and ``n_modes[i]`` centred ones on the others, so we pass ``2 * modes`` on the
leading axes and ``2 * modes - 1`` on the last (``2 * modes`` there would keep one
mode too many).

The paper's FNO-2D for Navier-Stokes (width 20, modes 12, 4 layers: one linear
lift, spectral + pointwise-linear blocks, a 128-wide two-layer projection;
926,357 real parameters) is ``lifting_ratio=0, projection_ratio=6.4,
channel_mlp=False`` (config ``fno-ns``; the test counts the parameters).
neuraloperator's defaults (a channel MLP per block, a two-layer lift) are ours to
choose, not the paper's. One placement differs: the paper's per-block bias sits in
the pointwise convolution, neuraloperator's in the spectral convolution; both are
added before the activation, so the function class and count are the same.

The spectral layers run in float32 under autocast (their FFTs are unsupported or
inaccurate in half precision).
"""

from __future__ import annotations

import torch
from neuralop.layers.spectral_convolution import SpectralConv
from neuralop.models import FNO

from operators.registry import BenchSetup, register
from solvers.errors import InputError


def _spectral_input_in_float32(module: torch.nn.Module, inputs: tuple) -> tuple:
    x = inputs[0]
    return (x.float(), *inputs[1:]) if x.is_floating_point() and x.dtype != torch.float32 else inputs


def run_spectral_layers_in_float32(model: torch.nn.Module) -> torch.nn.Module:
    """Make every neuraloperator ``SpectralConv`` take float32 input, whatever autocast does around it."""
    for module in model.modules():
        if isinstance(module, SpectralConv):
            module.register_forward_pre_hook(_spectral_input_in_float32)
    return model


#: Fourier modes per axis when none are given (FNO's 2D setting is 12, its 1D setting 16)
DEFAULT_MODES = 16


#: the bench's cpu-small FNO, also the inner model of the stagger and the observer there
SMALL_FNO = {"modes": 12, "width": 32}


@register(
    "fno",
    resolution_agnostic=True,
    bench=BenchSetup(small=SMALL_FNO, shipped={"ns-1e-3": "fno-ns", "ns-1e-5": "fno-ns"}),
)
def build_fno(
    in_channels: int,
    out_channels: int,
    ndim: int,
    modes: int | None = None,
    width: int = 64,
    layers: int = 4,
    grid_size: int | None = None,
    lifting_ratio: float = 2.0,
    projection_ratio: float = 2.0,
    positional_embedding: bool = True,
    channel_mlp: bool = True,
) -> torch.nn.Module:
    """An FNO for ``(batch, in_channels, *grid)`` -> ``(batch, out_channels, *grid)`` in ``ndim`` = 1 or 2 dimensions.

    Args:
        modes: Fourier modes per axis (paper convention), at most ``grid_size // 2``; default 16,
            capped at ``grid_size // 2`` on smaller grids.
        width: hidden channels. layers: Fourier layers.
        grid_size: grid points per axis of the training data (caps ``modes``).
        lifting_ratio, projection_ratio: widths of the lifting / projection MLPs relative to ``width``
            (a lifting ratio of 0 lifts with one linear layer, as the paper does).
        positional_embedding: append the grid coordinates as input channels (as the paper does).
        channel_mlp: a channel MLP in every block (neuraloperator's default; the paper has none).
    """
    if ndim not in (1, 2, 3):
        raise InputError(f"ndim must be 1, 2 or 3, got {ndim!r}")
    if modes is None:
        modes = DEFAULT_MODES if grid_size is None else min(DEFAULT_MODES, grid_size // 2)
    elif grid_size is not None and modes > grid_size // 2:
        raise InputError(f"modes = {modes} is more than a {grid_size}-point grid holds; use 1 to {grid_size // 2}")
    model = FNO(
        n_modes=(*(2 * modes,) * (ndim - 1), 2 * modes - 1),
        in_channels=in_channels,
        out_channels=out_channels,
        hidden_channels=width,
        n_layers=layers,
        lifting_channel_ratio=lifting_ratio,
        projection_channel_ratio=projection_ratio,
        positional_embedding="grid" if positional_embedding else None,
        use_channel_mlp=channel_mlp,
    )
    return run_spectral_layers_in_float32(model)
