"""Latent diffusion transformer (Text2PDE stage 2's denoiser): a DiT over latent trajectories with
adaLN-Zero blocks and cross-attention to the condition tokens in every block.

As the public Text2PDE DiT (anthonyzhou-1/ldm_pdes ``modules/models/transformer.py``, after Peebles
& Xie 2023): the latent ``(C, time', *grid')`` is cut into patches (``patch``, ``[1, 2, 2]`` in the
public NS configs) by a strided convolution; a learned position table initialised with sin-cos
features per axis; the conditioning vector ``c`` is the timestep embedding (sinusoidal, 256
frequencies, then a SiLU MLP) plus an MLP of the masked mean of the condition tokens; every block is
``x += gate1 * SelfAttention(modulate(LN(x), shift1, scale1))``, ``x += CrossAttention(LN(x),
tokens, mask)``, ``x += gate2 * MLP(modulate(LN(x), shift2, scale2))`` with the six modulation
vectors a linear map of ``SiLU(c)`` initialised to zero (adaLN-Zero; LayerNorms without affine
parameters, MLP ratio 4 with tanh-GELU); a final adaLN layer, zero-initialised, maps tokens back to
patches (the noise estimate, epsilon parameterisation). Public sizes: small 512 wide x 24 deep,
medium 1024 x 28 (16 heads), context width 768 (RoBERTa-base).

Classifier-free guidance needs an unconditional prediction: a learned null token, given with a
one-token mask in place of the condition (``null_condition``); training drops the condition to it
with probability ``task.condition_dropout``. The public code has a guided forward but never drops
the condition.

First-frame conditioning, additions to the public model: the frame's tokens carry sin-cos position
features (``FirstFrameEncoder``); their map is also concatenated to the latent input (``FrameMap``,
``frame_map=True``, the default), so that every latent patch sees the frame at its own place; and,
opt-in (``latent_condition=True``), the latent of the frame held still for the whole trajectory (the
frozen autoencoder's encoding of persistence) is concatenated too, so that the condition lives in the
target's own space (as image-to-video diffusion models condition on the first frame's latent). Measured on 26 ns-text-tiny training trajectories, 400 epochs each way (a
development experiment): relative L2 of the generated trajectories after the first frame 1.23 with positions alone
(cross-attention only; persistence scores 1.24), 0.81 with the frame map, 0.77 with the held frame's
latent too (validation trajectories: 0.93, 0.76, 0.78).

``LatentDenoiser`` is the registered module (``latent-dit``): the DiT together with its condition
encoder (text or first frame), so that the trainer optimises both and a checkpoint rebuilds both.
A frozen pretrained text encoder (MiniLM) is kept out of the module's weights (it is reloaded from
its package), so checkpoints stay small.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from operators.layers.conditioning import FirstFrameEncoder, TextEncoder
from operators.layers.convolution_blocks import CONVOLUTIONS
from operators.layers.embedding import sincos_table
from operators.registry import BenchSetup, register
from solvers.errors import InputError

CONDITIONS = ("text", "first-frame")


def timestep_features(t: torch.Tensor, width: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features ``(batch, width)`` of (possibly fractional) step indices ``t`` ``(batch,)``."""
    half = width // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class CrossAttention(nn.Module):
    """Multi-head attention of ``x`` ``(B, N, D)`` to condition tokens ``(B, L, D_c)``, padding masked."""

    def __init__(self, width: int, context_width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(context_width, width, bias=False)
        self.v = nn.Linear(context_width, width, bias=False)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        def split(y: torch.Tensor) -> torch.Tensor:
            return y.reshape(y.shape[0], y.shape[1], self.heads, -1).transpose(1, 2)

        allowed = mask.bool()[:, None, None, :]  # (B, 1, 1, L): attend only to real tokens
        attended = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(context)), split(self.v(context)), attn_mask=allowed
        )
        return self.out(attended.transpose(1, 2).reshape(x.shape))


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape))


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, context_width: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attention = SelfAttention(width, heads)
        self.norm_cross = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.cross = CrossAttention(width, context_width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, c: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=1)
        x = x + gate1[:, None] * self.attention(modulate(self.norm1(x), shift1, scale1))
        x = x + self.cross(self.norm_cross(x), context, mask)
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class DiT(nn.Module):
    """The transformer: ``forward(x, t, context, mask, spatial)`` maps noisy latents ``(B, C, time',
    *grid')`` at steps ``t`` ``(B,)`` to noise estimates of the same shape; ``spatial``
    ``(B, spatial_channels, time', *grid')``, when the model takes one, is concatenated to the
    latents' channels before the patch embedding."""

    def __init__(
        self,
        channels: int,
        latent_size: tuple[int, ...],
        patch: tuple[int, ...],
        width: int,
        depth: int,
        heads: int,
        context_width: int,
        mlp_ratio: float,
        spatial_channels: int = 0,
    ):
        super().__init__()
        if len(patch) != len(latent_size) or any(n % p for n, p in zip(latent_size, patch, strict=True)):
            raise InputError(f"patch {list(patch)} must divide the latent size {list(latent_size)} axis by axis")
        if width % heads:
            raise InputError(f"width ({width}) must be divisible by heads ({heads})")
        self.channels, self.latent_size, self.patch = channels, tuple(latent_size), tuple(patch)
        self.spatial_channels = spatial_channels
        self.patches = tuple(n // p for n, p in zip(latent_size, patch, strict=True))
        self.embed = CONVOLUTIONS[len(patch)](channels + spatial_channels, width, patch, stride=patch)
        self.position = nn.Parameter(sincos_table(width, self.patches)[None])
        self.time_mlp = nn.Sequential(nn.Linear(256, width), nn.SiLU(), nn.Linear(width, width))
        self.condition_mlp = nn.Sequential(nn.Linear(context_width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(DiTBlock(width, heads, context_width, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.final = nn.Linear(width, math.prod(patch) * channels)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.embed.weight.view(self.embed.weight.shape[0], -1))
        nn.init.zeros_(self.embed.bias)
        for mlp in (self.time_mlp, self.condition_mlp):
            nn.init.normal_(mlp[0].weight, std=0.02)
            nn.init.normal_(mlp[2].weight, std=0.02)
        for layer in [*(block.modulation[-1] for block in self.blocks), self.final_modulation[-1], self.final]:
            nn.init.zeros_(layer.weight)  # adaLN-Zero: every block starts as the identity, the output at 0
            nn.init.zeros_(layer.bias)

    def _unpatchify(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, d = tokens.shape[0], len(self.patch)
        x = tokens.reshape(batch, *self.patches, *self.patch, self.channels)
        # (B, n_1..n_d, p_1..p_d, C) -> (B, C, n_1, p_1, ..., n_d, p_d)
        order = [0, 1 + 2 * d, *[i for axis in range(d) for i in (1 + axis, 1 + d + axis)]]
        return x.permute(*order).reshape(batch, self.channels, *self.latent_size)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor,
        spatial: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if tuple(x.shape[1:]) != (self.channels, *self.latent_size):
            raise InputError(
                f"expected latents (batch, {self.channels}, {', '.join(map(str, self.latent_size))}), "
                f"got {tuple(x.shape)}"
            )
        if self.spatial_channels:
            x = torch.cat([x, spatial.to(x.dtype)], dim=1)
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.position
        weights = mask.float()[..., None]
        pooled = (context * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # masked mean of the condition
        c = self.time_mlp(timestep_features(t)) + self.condition_mlp(pooled)
        for block in self.blocks:
            tokens = block(tokens, c, context, mask)
        shift, scale = self.final_modulation(c).chunk(2, dim=1)
        return self._unpatchify(self.final(modulate(self.final_norm(tokens), shift, scale)))


class FrameMap(nn.Module):
    """First-frame tokens ``(B, L, D)`` laid out as their ``token_grid`` map again, projected to
    ``channels`` by a 1-wide convolution, resampled (area) to the latent grid and repeated over latent
    time: ``(B, channels, time', *grid')``, the frame concatenated to the denoiser's input. With it,
    every latent patch sees the frame at its own place, which cross-attention alone learns slowly."""

    def __init__(self, width: int, channels: int, token_grid: tuple[int, ...], latent_size: tuple[int, ...]):
        super().__init__()
        if len(token_grid) != len(latent_size) - 1:
            raise InputError(
                f"the frame's token grid {list(token_grid)} and the latent grid "
                f"{list(latent_size[1:])} have different numbers of axes"
            )
        self.project = CONVOLUTIONS[len(token_grid)](width, channels, 1)
        self.token_grid, self.latent_size, self.channels = tuple(token_grid), tuple(latent_size), channels

    @property
    def length(self) -> int:
        return math.prod(self.token_grid)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch = tokens.shape[0]
        features = self.project(tokens.transpose(1, 2).reshape(batch, -1, *self.token_grid))
        features = F.interpolate(features, size=self.latent_size[1:], mode="area")
        return features.unsqueeze(2).expand(-1, -1, *self.latent_size)


class LatentDenoiser(nn.Module):
    """The DiT with its condition encoder and the null token (see the module docstring).

    ``encode_condition(condition)`` takes prompts (``list[str]``) or first frames ``(B, C, *grid)``
    (normalised) and gives ``(tokens, mask)``; ``forward`` runs the DiT on a condition or its tokens.
    A first-frame denoiser with a ``frame_map`` also feeds the frame's tokens, as a map, to the DiT's
    input; its null condition is then padded to the frame's token count (the null token, then zeros,
    masked), so that a dropped condition gives the same input in training and in guidance.
    """

    def __init__(
        self,
        dit: DiT,
        condition: str,
        encoder: nn.Module,
        keep_encoder_weights: bool,
        frame_map: FrameMap | None = None,
        latent_condition: bool = False,
    ):
        super().__init__()
        self.dit, self.condition, self.frame_map = dit, condition, frame_map
        self.latent_condition = latent_condition
        if keep_encoder_weights:
            self.encoder = encoder
        else:  # a frozen pretrained encoder: reloaded from its package, not saved with the weights
            self._frozen = [encoder]
        self.null = nn.Parameter(torch.zeros(1, 1, encoder.width))

    @property
    def condition_encoder(self) -> nn.Module:
        return self.encoder if hasattr(self, "encoder") else self._frozen[0]

    def encode_condition(self, condition) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self.condition_encoder
        device = self.null.device
        if not hasattr(self, "encoder"):
            encoder.to(device)
        if self.condition == "text":
            return encoder(condition)
        if not isinstance(condition, torch.Tensor):
            raise InputError("a first-frame generator is conditioned on a tensor of first frames (batch, C, *grid)")
        tokens, mask = encoder(condition.to(device))
        if self.frame_map is not None and tokens.shape[1] != self.frame_map.length:
            raise InputError(
                f"the first frame gives {tokens.shape[1]} tokens; this generator was built for frames "
                f"giving {self.frame_map.length} (a {list(self.frame_map.token_grid)} token map)"
            )
        return tokens, mask

    def _null(self, batch: int, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.zeros(batch, length, self.null.shape[-1], device=self.null.device, dtype=dtype)
        tokens[:, :1] = self.null.to(dtype)
        mask = torch.zeros(batch, length, device=self.null.device)
        mask[:, 0] = 1
        return tokens, mask

    def null_condition(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The unconditional condition: the null token, one per sample (padded for a frame map)."""
        length = self.frame_map.length if self.frame_map is not None else 1
        return self._null(batch, length, self.null.dtype)

    def drop_condition(
        self, tokens: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace the condition of the samples where ``drop`` ``(B,)`` is true by the null token."""
        null_tokens, null_mask = self._null(tokens.shape[0], tokens.shape[1], tokens.dtype)
        keep = ~drop.bool()
        return (
            torch.where(keep[:, None, None], tokens, null_tokens),
            torch.where(keep[:, None], mask, null_mask.to(mask.dtype)),
        )

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        condition=None,
        drop: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Noise estimates for latents ``x`` at steps ``t``, given the raw ``condition`` (encoded here, so
        that a trainable encoder trains through this call) or its ``tokens`` and ``mask``; ``drop``
        ``(B,)`` replaces the condition of some samples by the null token (condition dropout). A
        denoiser with ``latent_condition`` also takes ``latent``, the first frame held still through the
        frozen autoencoder (``operators.predictors.generator.held_frame_latent``), zero where the condition is
        dropped or for the unconditional estimate (``latent=None``)."""
        if tokens is None:
            tokens, mask = self.encode_condition(condition)
        if drop is not None:
            tokens, mask = self.drop_condition(tokens, mask, drop)
        spatial = [self.frame_map(tokens)] if self.frame_map is not None else []
        if self.latent_condition:
            if latent is None:
                latent = torch.zeros_like(x)
            elif tuple(latent.shape) != tuple(x.shape):
                raise InputError(
                    f"the held first frame's latent must be shaped like the latents {tuple(x.shape)}, "
                    f"got {tuple(latent.shape)}"
                )
            if drop is not None:
                latent = torch.where(drop.bool().reshape(-1, *(1,) * (x.dim() - 1)), 0.0, latent)
            spatial.append(latent.to(x.dtype))
        return self.dit(x, t, tokens, mask, torch.cat(spatial, dim=1) if spatial else None)


# the first frame's whole trajectory at once, in the latent space of an autoencoder trained first on the
# most frames that its time axis takes (a multiple of 4: 8 of cpu-small NS's 11, so 7 steps ahead)
@register(
    "latent-dit",
    bench=BenchSetup(
        task="latent-diffusion",
        small={"width": 128, "depth": 4, "heads": 4},
        width_key=None,
        task_options={"condition": "first-frame"},
        shipped={"*": "text2pde-first-frame"},
        stage={
            "model": "trajectory-autoencoder",
            "task": "autoencoder",
            "shipped": "text2pde-autoencoder",
            "small": {"hidden": 16, "multipliers": [1, 2, 2], "latent_channels": 4},
            "lr": 2.0e-3,
        },
    ),
)
def build_latent_dit(
    latent_channels: int,
    latent_size: list[int],
    condition: str = "text",
    patch: list[int] | None = None,
    width: int = 512,
    depth: int = 24,
    heads: int = 16,
    mlp_ratio: float = 4.0,
    text_encoder: str = "minilm",
    text_trainable: bool = False,
    frame_channels: int = 1,
    frame_ndim: int = 2,
    frame_hidden: int = 32,
    frame_levels: int = 2,
    frame_grid: list[int] | None = None,
    frame_map: bool = True,
    frame_map_channels: int = 8,
    latent_condition: bool = False,
) -> LatentDenoiser:
    """A latent DiT with its condition encoder (see the module docstring); defaults: the public DiT-small.

    Args:
        latent_channels, latent_size: the autoencoder's latent ``(C, time', *grid')`` (filled in by the task).
        condition: ``text`` or ``first-frame``. patch: latent patch size (default ``[1, 2, ...]``).
        width, depth, heads, mlp_ratio: transformer size.
        text_encoder: ``minilm`` or ``tiny-random``; text_trainable: fine-tune it.
        frame_channels, frame_ndim, frame_hidden, frame_levels: the first-frame CNN (fields, grid axes,
            channels, halvings).
        frame_grid: the first frame's grid (filled in by the task); with it and ``frame_map``, the
            frame's token map, projected to ``frame_map_channels``, is also concatenated to the latent
            input (``FrameMap``; an addition to the public model, which conditions by cross-attention only).
        latent_condition: a first-frame model also takes the latent of its frame held still (encoded by
            the frozen autoencoder) beside the noisy latent, channel-concatenated (another addition; off
            by default: no measurable gain in the memorisation test above, twice the encoder's work).
    """
    if condition not in CONDITIONS:
        raise InputError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    size = tuple(int(n) for n in latent_size)
    patch = tuple(patch) if patch is not None else (1, *(2,) * (len(size) - 1))
    if condition == "text":
        encoder = TextEncoder(text_encoder, trainable=text_trainable)
        keep = text_trainable or text_encoder != "minilm"
    else:
        encoder = FirstFrameEncoder(frame_channels, frame_ndim, width, frame_hidden, frame_levels)
        keep = True
    layout = None
    if condition == "first-frame" and frame_grid is not None and frame_map:
        layout = FrameMap(encoder.width, frame_map_channels, encoder.token_grid(tuple(frame_grid)), size)
    held = condition == "first-frame" and latent_condition
    spatial = (layout.channels if layout is not None else 0) + (latent_channels if held else 0)
    dit = DiT(latent_channels, size, patch, width, depth, heads, encoder.width, mlp_ratio, spatial)
    return LatentDenoiser(dit, condition, encoder, keep, layout, held)
