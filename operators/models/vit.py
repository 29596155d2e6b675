"""A Vision Transformer for fields (``vit``) and its neural-operator conversion (``vit-no``).

The NNs-to-NOs paper's ViT (Berner, Liu-Schiaffini, Kossaifi et al. 2025) wraps
Hugging Face's ``ViTModel``; this is the same network written with torch and
einops (no hub download): a ``p x p`` stride-``p`` patch embedding, a class
token, a learned position table, ``layers`` pre-norm encoder blocks
(LayerNorm, multi-head self-attention with biased q/k/v, LayerNorm, a GELU MLP),
a final LayerNorm, and a decoder that maps every patch token to its ``p x p``
pixels (a 1x1 convolution to ``p^2 * C_out`` channels and a pixel shuffle). The
paper's configuration is the default (patch 16, width 768, 12 layers, 12
heads, MLP 1900). 2D only; the grid must be divisible by the patch.

``vit`` on another grid does what the public model does: the same patch size in
grid points (so a patch covers less of the domain on a finer grid), the
position table interpolated bicubically to the new token grid. It is grid-tied:
surrogates run it on other grids only when asked (``other_grids="direct"``).

``vit-no`` keeps every operation in physical units:

- **patches of fixed physical size**: at scale ``s = N / N_train`` a patch is
  ``p' = s p`` points (an integer: ``N p`` must be divisible by ``N_train``);
  the embedding kernel is resized to ``p' x p'`` and divided by ``(p'/p)^2``,
  so it integrates the field over the same square (``operators.layers.resolution``);
- **positions**: ``coordinates`` (a linear map of the patch centres' periodic
  Fourier features, the paper's replacement of the position table) or
  ``table`` (the learned table, interpolated bicubically if the token grid
  ever differs from the training one; with physical patches it does not);
- **attention as a quadrature**: patches of equal area have equal quadrature
  weights, so softmax attention is already the normalised kernel integral
  ``int k(x, y) v(y) dy / int k(x, y) dy`` discretised on the token grid;
  nothing else is needed on uniform grids;
- **decoder**: each token's ``p x p`` pixels are produced as trained and the
  image is resampled to the input grid (``bilinear`` or ``fourier``).
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional

from operators.layers.resolution import INTERPOLATIONS, resample_grid, resize_kernel
from operators.registry import BenchSetup, extend_builder, register
from solvers.errors import InputError

POSITIONS = ("table", "coordinates")


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: ``x + MHA(LN(x))``, then ``x + MLP(LN(x))``. ``(batch, tokens, width)``."""

    def __init__(self, width: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width, eps=1e-12), nn.LayerNorm(width, eps=1e-12)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(), nn.Linear(mlp, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(self.norm1(x)), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        attended = functional.scaled_dot_product_attention(q, k, v)
        x = x + self.out(rearrange(attended, "b h n d -> b n (h d)"))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """``(batch, in_channels, H, W) -> (batch, out_channels, H, W)``; see the module docstring."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        grid_size: int,
        patch_size: int,
        width: int,
        layers: int,
        heads: int,
        mlp: int,
        physical_patches: bool,
        position: str,
        interpolation: str,
    ):
        super().__init__()
        if grid_size % patch_size:
            raise InputError(f"grid_size {grid_size} is not divisible by patch_size {patch_size}")
        if width % heads:
            raise InputError(f"width ({width}) must be divisible by heads ({heads})")
        self.grid_size, self.patch_size, self.out_channels = grid_size, patch_size, out_channels
        self.physical_patches, self.position, self.interpolation = physical_patches, position, interpolation
        tokens = grid_size // patch_size
        self.embed = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        if position == "table":
            self.positions = nn.Parameter(torch.randn(1, tokens * tokens + 1, width) * 0.02)
        else:  # sin/cos of 2 pi k x, k = 1..4, per axis, for the patch centres; the class token gets a zero
            self.positions = nn.Linear(16, width)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, mlp) for _ in range(layers))
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.decode = nn.Conv2d(width, patch_size**2 * out_channels, 1)

    def _patch(self, size: int) -> int:
        """Patch points on a grid of ``size`` points per axis."""
        if not self.physical_patches or size == self.grid_size:
            if size % self.patch_size:
                raise InputError(f"the grid ({size}) must be divisible by the patch size {self.patch_size}")
            return self.patch_size
        if (size * self.patch_size) % self.grid_size:
            raise InputError(
                f"a {size}-point grid cannot be cut into patches of the trained physical size "
                f"({self.patch_size} of {self.grid_size} points): {size} * {self.patch_size} must be divisible "
                f"by {self.grid_size}"
            )
        return size * self.patch_size // self.grid_size

    def _position_embedding(self, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        if self.position == "coordinates":
            axes = [(torch.arange(n, device=like.device, dtype=like.dtype) + 0.5) / n for n in (rows, cols)]
            y, x = torch.meshgrid(*axes, indexing="ij")
            k = torch.arange(1, 5, device=like.device, dtype=like.dtype)
            phases = 2 * math.pi * torch.stack([y, x], dim=-1)[..., None] * k  # (rows, cols, 2, 4)
            features = torch.cat([torch.sin(phases), torch.cos(phases)], dim=-1).reshape(rows * cols, 16)
            return torch.cat([like.new_zeros(1, like.shape[-1]), self.positions(features)])[None]
        table = self.positions
        trained = self.grid_size // self.patch_size
        if (rows, cols) == (trained, trained):
            return table
        grid = rearrange(table[:, 1:], "1 (r c) w -> 1 w r c", r=trained)
        grid = functional.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False)
        return torch.cat([table[:, :1], rearrange(grid, "1 w r c -> 1 (r c) w")], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        patch = self._patch(height)
        if self._patch(width) != patch:
            raise InputError(f"the ViT needs a square grid, got {height} x {width}")
        weight = self.embed.weight
        if patch != self.patch_size:
            weight = resize_kernel(weight, (patch, patch), self.interpolation)
        tokens = functional.conv2d(x, weight, self.embed.bias, stride=patch)
        rows, cols = tokens.shape[-2:]
        tokens = rearrange(tokens, "b w r c -> b (r c) w")
        tokens = torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], dim=1)
        tokens = tokens + self._position_embedding(rows, cols, tokens[0])
        for block in self.blocks:
            tokens = block(tokens)
        tokens = rearrange(self.norm(tokens)[:, 1:], "b (r c) w -> b w r c", r=rows)
        image = functional.pixel_shuffle(self.decode(tokens), self.patch_size)
        return resample_grid(image, (height, width), self.interpolation)


def _build(
    in_channels, out_channels, ndim, grid_size, patch_size, width, layers, heads, mlp, physical, position, interpolation
) -> ViT:
    if ndim != 2:
        raise InputError(f"the ViT is 2D only, got ndim = {ndim}")
    if position not in POSITIONS:
        raise InputError(f"position must be one of {', '.join(POSITIONS)}, got {position!r}")
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    return ViT(
        in_channels, out_channels, grid_size, patch_size, width, layers, heads, mlp, physical, position, interpolation
    )


#: the bench's cpu-small ViT, converted or not, trained on two-step unrolled rollouts (the PDEArena and
#: Brandstetter et al. remedy for error growth): ns-1e-3 rollout 0.2023 -> 0.1943 (seed 0) and 0.2167 -> 0.2024
#: (seed 1) against one-step training (benchmarks/ablation.py ns-1e-3 vit --variant rollout-2 task.rollout_steps=2)
SMALL_VIT = BenchSetup(
    small={"patch_size": 8, "width": 64, "layers": 4, "heads": 4, "mlp": 128}, task_options={"rollout_steps": 2}
)


@register("vit", bench=SMALL_VIT)
def build_vit(
    in_channels: int,
    out_channels: int,
    grid_size: int,
    ndim: int = 2,
    patch_size: int = 16,
    width: int = 768,
    layers: int = 12,
    heads: int = 12,
    mlp: int = 1900,
) -> nn.Module:
    """The paper's ViT (a learned position table, patches of ``patch_size`` grid points).

    Args:
        grid_size: points per axis of the training grid (sizes the position table).
        patch_size: patch side in points. width: token width. layers: encoder blocks.
        heads: attention heads. mlp: hidden width of the blocks' MLP.
    """
    return _build(
        in_channels, out_channels, ndim, grid_size, patch_size, width, layers, heads, mlp, False, "table", "bilinear"
    )


def _physical(options: dict, extra: dict) -> nn.Module:
    o = options
    return _build(
        o["in_channels"],
        o["out_channels"],
        o["ndim"],
        o["grid_size"],
        o["patch_size"],
        o["width"],
        o["layers"],
        o["heads"],
        o["mlp"],
        True,
        extra["position"],
        extra["interpolation"],
    )


build_vit_no = register("vit-no", resolution_agnostic=True, bench=SMALL_VIT)(
    extend_builder(
        build_vit,
        {"position": ("str", "coordinates"), "interpolation": ("str", "bilinear")},
        _physical,
        """The ViT as a neural operator: patches of fixed physical size (see the module docstring).

    Args:
        position: ``coordinates`` (Fourier features of the patch centres) or ``table``.
        interpolation: ``bilinear`` or ``fourier``, for the patch kernel and the decoded image.
        Others as ``vit``.
    """,
    )
)
