"""Denoising diffusion: the DDPM noise schedule, the forward (noising) process, and DDIM / DDPM sampling
with classifier-free guidance.

The schedule is latent diffusion's "linear" one (Rombach et al. 2022, used by Text2PDE): ``T``
steps (1000) with ``beta_t`` spaced linearly in square-root space from ``beta_start`` (0.00085) to
``beta_end`` (0.012); ``alpha_bar_t = prod_{s <= t} (1 - beta_s)``. The network predicts the noise
(epsilon parameterisation). Forward process: ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.

Sampling follows DDIM (Song et al. 2021) on a subsequence of the ``T`` steps: from ``x_t`` and the
predicted noise, ``x_0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` and
``x_prev = sqrt(a_prev) x_0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z`` with
``sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)``; ``eta = 0`` is deterministic
and ``eta = 1`` on all ``T`` steps is DDPM's ancestral sampler (``sigma^2`` equals DDPM's posterior
variance ``beta_tilde_t``). Guidance: ``eps = eps_uncond + w (eps_cond - eps_uncond)`` (``w = 1``:
conditional only, no unconditional call).

Written here rather than taken from ``diffusers``: the whole of it is the few formulas above, tested
against the closed form; a dependency would add more than it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from solvers.errors import InputError


@dataclass(frozen=True)
class NoiseSchedule:
    """A DDPM schedule of ``steps`` noise levels (see the module docstring)."""

    steps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 2:
            raise InputError(f"the schedule needs an integer number of steps >= 2, got {self.steps!r}")
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise InputError(f"need 0 < beta_start <= beta_end < 1, got {self.beta_start!r}, {self.beta_end!r}")

    @property
    def betas(self) -> torch.Tensor:
        """``(steps,)`` float64."""
        return torch.linspace(self.beta_start**0.5, self.beta_end**0.5, self.steps, dtype=torch.float64) ** 2

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """``alpha_bar_t`` ``(steps,)`` float64."""
        return torch.cumprod(1.0 - self.betas, dim=0)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "beta_start": self.beta_start, "beta_end": self.beta_end}

    def _alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        values = self.alphas_cumprod.to(like.device)[t.to(like.device)]
        return values.to(like.dtype).reshape(-1, *(1,) * (like.dim() - 1))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t`` for clean samples ``x0`` ``(batch, ...)``, noise like it and step indices ``t`` ``(batch,)``."""
        a = self._alpha_bar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def sampling_steps(self, count: int) -> list[int]:
        """``count`` step indices from ``steps - 1`` down to 0, evenly spaced (DDIM's subsequence)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= self.steps:
            raise InputError(f"sampling steps must be an integer in [1, {self.steps}], got {count!r}")
        grid = torch.linspace(self.steps - 1, 0, count, dtype=torch.float64).round().long()
        return list(dict.fromkeys(grid.tolist()))

    def ddim_step(
        self, x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int | None, eta: float, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """One DDIM update from step ``t`` to ``t_prev`` (``None``: to the clean sample)."""
        a_bar = self.alphas_cumprod
        a_t = float(a_bar[t])
        a_prev = float(a_bar[t_prev]) if t_prev is not None else 1.0
        x0 = (x_t - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        sigma = eta * ((1 - a_prev) / (1 - a_t)) ** 0.5 * (1 - a_t / a_prev) ** 0.5
        direction = max(1 - a_prev - sigma**2, 0.0) ** 0.5 * eps
        x_prev = a_prev**0.5 * x0 + direction
        if sigma > 0 and noise is not None:
            x_prev = x_prev + sigma * noise
        return x_prev

    def sample(
        self,
        predict_noise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        shape: tuple[int, ...],
        steps: int = 50,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        """Draw ``x_0`` of ``shape`` by DDIM on ``steps`` of the schedule's steps.

        ``predict_noise(x_t, t)`` returns the (guided) noise estimate for ``x_t`` at step indices
        ``t`` ``(batch,)``. Noise comes from ``generator`` (on the CPU, so a seed gives the same
        sample on every device); ``steps = self.steps`` with ``eta = 1`` is DDPM.
        """
        if not 0.0 <= eta <= 1.0:
            raise InputError(f"eta must lie in [0, 1], got {eta!r}")
        sequence = self.sampling_steps(steps)

        def normal() -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float32).to(device)

        x = normal()
        for i, t in enumerate(sequence):
            t_prev = sequence[i + 1] if i + 1 < len(sequence) else None
            eps = predict_noise(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
            x = self.ddim_step(x, eps.float(), t, t_prev, eta, normal() if eta > 0 and t_prev is not None else None)
        return x


def guided(
    predict: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor], guidance: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Classifier-free guidance: ``predict(x, t, conditional)`` combined as ``u + w (c - u)``."""
    if guidance == 1.0:
        return lambda x, t: predict(x, t, True)

    def combined(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        conditional, unconditional = predict(x, t, True), predict(x, t, False)
        return unconditional + guidance * (conditional - unconditional)

    return combined
