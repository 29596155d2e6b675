"""LocalNO: neuraloperator's FNO with local integral (DISCO) and differential (finite-difference) layers.

The NNs-to-NOs paper's local neural operator (Liu-Schiaffini et al. 2024):
each block adds, beside the spectral convolution, a discrete-continuous (DISCO)
convolution whose kernel is a learned combination of piecewise-linear hat
functions of fixed physical radius, and/or a finite-difference stencil scaled by
the grid spacing. Variants (``local``): ``disco`` (DISCO in every layer, the
paper's LocalNO-DISCO), ``differential`` (a finite-difference layer in the last
block, the paper's differential variant), ``both``.

neuraloperator 2.0 builds each DISCO stencil once, for ``default_in_shape``; on
another grid it would apply the same grid-point stencil (a kernel of another
physical size). We re-discretise it per grid (``RediscretisedDisco``: the same
weights and physical radius, the hat functions evaluated on the new grid, the
quadrature weight of the new cell), cached per shape, so the model is resolution
agnostic. The finite-difference layers already divide by the actual spacing.

neuraloperator's DISCO code needs torch-harmonics 0.7.4 (it imports internals
that newer releases removed; when that import fails ``LocalNO`` silently
vanishes from ``neuralop.models``). Install it with
``pip install --no-build-isolation 'torch-harmonics==0.7.4'`` (or the extra
``pdeop[localno]``); without it, building ``localno`` fails with that line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math

import torch
from torch import nn
from torch.nn import functional

from operators.models.fno import run_spectral_layers_in_float32
from operators.registry import BenchSetup, register
from solvers.errors import InputError

INSTALL_HINT = (
    "localno needs torch-harmonics 0.7.4 (neuraloperator's DISCO layers import its internals): "
    "pip install --no-build-isolation 'torch-harmonics==0.7.4'"
)
VARIANTS = ("disco", "differential", "both")


def _neuralop_local_no():
    # without torch-harmonics neuraloperator's module prints its own "Error: trying to import DISCO ..." line
    # and then fails: say it once, in our words, before importing it
    if importlib.util.find_spec("torch_harmonics") is None:
        raise InputError(INSTALL_HINT)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # a torch-harmonics without the internals prints it too
            from neuralop.layers.discrete_continuous_convolution import EquidistantDiscreteContinuousConv2d
            from neuralop.models.local_no import LocalNO
    except (ImportError, NameError) as error:  # NameError: neuralop's half-failed torch-harmonics import
        raise InputError(INSTALL_HINT) from error
    return LocalNO, EquidistantDiscreteContinuousConv2d


def disco_stencil(
    kernel_shape: list[int], kernel_size: int, shape: tuple[int, int], domain: list[float], radius: float
) -> tuple[torch.Tensor, float]:
    """The hat-function stencil ``(kernel_size, h, w)`` of a DISCO convolution on a ``shape`` grid, and its cell area.

    neuraloperator samples the basis on ``floor(2 r N / L) + 1`` points from ``-r`` to ``r``,
    which is grid-aligned and centred only when ``2 r N / L`` is an even integer; elsewhere
    (48 points when trained on 32, any coarser grid) the stencil is even and off by half a
    cell. We sample on the odd, grid-aligned stencil that covers the radius (points past
    ``r`` get zero from the basis), so every grid gets a centred stencil.
    """
    from neuralop.layers import discrete_continuous_convolution as disco

    sizes, axes = [], []
    for n, length in zip(shape, domain, strict=True):
        spacing = length / n
        half = max(1, math.ceil(radius / spacing - 1e-9))
        sizes.append(2 * half + 1)
        axes.append(spacing * torch.arange(-half, half + 1, dtype=torch.float64))
    x, y = torch.meshgrid(*axes, indexing="ij")
    cell = domain[0] * domain[1] / (shape[0] * shape[1])
    idx, vals = disco._precompute_convolution_filter_matrix(
        torch.stack([x.reshape(-1), y.reshape(-1)]).float(),
        torch.zeros(2, 1),
        kernel_shape,
        cell * torch.ones(math.prod(sizes)),
        basis_type="piecewise_linear",
        radius_cutoff=radius,
        periodic=False,
        normalize=True,
    )
    stencil = torch.zeros(kernel_size, math.prod(sizes))
    stencil[idx[0], idx[2]] = vals.float()
    # neuraloperator's get_local_filter_matrix orientation: transposed and flipped
    return stencil.reshape(kernel_size, *sizes).permute(0, 2, 1).flip(dims=(-1, -2)), cell


def rediscretise_disco(model: nn.Module, disco_class: type, in_shape: tuple[int, int], radius: float) -> None:
    """Make every DISCO convolution of ``model`` re-discretise itself on grids other than ``in_shape``."""

    class RediscretisedDisco(disco_class):
        """A DISCO convolution whose stencil follows the input grid (same weights, same physical radius)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shape = tuple(x.shape[-2:])
            if shape == in_shape:
                return super().forward(x)
            if shape not in self.pdeop_stencils:
                self.pdeop_stencils[shape] = disco_stencil(
                    self.kernel_shape, self.kernel_size, shape, self.domain_length, radius
                )
            psi, cell = self.pdeop_stencils[shape]
            kernel = torch.einsum("kxy,ogk->ogxy", psi.to(device=x.device, dtype=self.weight.dtype), self.weight)
            padding = [(psi.shape[1] - 1) // 2, (psi.shape[2] - 1) // 2]
            return functional.conv2d(cell * x, kernel, self.bias, padding=padding, groups=self.groups)

    for module in model.modules():
        if type(module) is disco_class:
            module.__class__ = RediscretisedDisco
            module.pdeop_stencils = {}


@register("localno", resolution_agnostic=True, bench=BenchSetup(small={"modes": 12, "width": 32}))
def build_localno(
    in_channels: int,
    out_channels: int,
    grid_size: int,
    ndim: int = 2,
    modes: int = 12,
    width: int = 32,
    layers: int = 4,
    local: str = "disco",
    kernel_shape: int = 4,
    radius_cells: float = 2.0,
) -> nn.Module:
    """neuraloperator's LocalNO (2D), with DISCO stencils re-discretised per grid.

    Args:
        grid_size: training points per axis (neuraloperator's ``default_in_shape``).
        modes: Fourier modes per axis (paper convention, as ``fno``). width: hidden channels.
        layers: blocks. local: ``disco``, ``differential`` or ``both`` (see the module docstring).
        kernel_shape: rings of the piecewise-linear DISCO basis (neuraloperator's ``[2, 4]``
            means radius 2 with 4 angles; we take ``[2, kernel_shape]``).
        radius_cells: the DISCO kernels' radius in cells of the training grid (default 2: the
            paper's 0.03125 on [-1, 1] at 128^2). neuraloperator's default, one cell, samples the
            basis at only 3 x 3 points on the training grid, far from the integral it stands for,
            so refining the grid changes the layer's output by more than its size (measured).
    """
    local_no, disco_class = _neuralop_local_no()
    if ndim != 2:
        raise InputError(f"localno is 2D only (neuraloperator's DISCO layers), got ndim = {ndim}")
    if local not in VARIANTS:
        raise InputError(f"local must be one of {', '.join(VARIANTS)}, got {local!r}")
    if modes > grid_size // 2:
        raise InputError(f"modes = {modes} is more than a {grid_size}-point grid holds; use 1 to {grid_size // 2}")
    disco = local in ("disco", "both")
    differential = [local in ("differential", "both") and i == layers - 1 for i in range(layers)]
    domain = [2.0, 2.0]  # neuraloperator's convention: the grid spans [-1, 1]^2
    if not radius_cells > 0:
        raise InputError(f"radius_cells must be > 0, got {radius_cells!r}")
    radius = radius_cells * domain[0] / grid_size
    model = local_no(
        n_modes=(2 * modes, 2 * modes - 1),
        in_channels=in_channels,
        out_channels=out_channels,
        hidden_channels=width,
        default_in_shape=(grid_size, grid_size),
        n_layers=layers,
        disco_layers=disco,
        disco_kernel_shape=[2, kernel_shape],
        radius_cutoff=radius,
        domain_length=domain,
        diff_layers=differential,
    )
    rediscretise_disco(model, disco_class, (grid_size, grid_size), radius)
    return run_spectral_layers_in_float32(model)
