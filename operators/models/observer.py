"""The semilinear observer neural operator ("NODA": Singh, Borsoi, Erdogmus, Imbiriba, ICLR 2024).

For ``u_t = L u + N(u)`` observed as ``y = C u + noise``, the observer form
``u_t = L u + N(u) + K [y - C u]`` gives, discretised between frames, a
recursion that predicts and assimilates with one model:

- **prediction** ``u_f[k] = u_a[k-1] + F(u_a[k-1])``, ``F`` any registered
  next-step network (FNO by default);
- **correction** ``u_a[k] = u_f[k] + K(u_f[k]) [y_k - E(u_f[k])]``, only at frames
  with observations, with the innovation taken only at sensors (``mask``).

Our reading of what the paper leaves open (no public code exists):

- ``K`` (the paper's "generalised gating"): ``K(u_f)[d] = sigma(g) * (d + h)``
  with ``(g, h)`` from one network (FNO by default) of the normalised forecast,
  the normalised innovation ``d`` and the mask: the gate decides how much to trust
  the innovation where it is known, ``h`` spreads it to unobserved points (as a
  Kalman gain's off-diagonal terms do). ``gain="identity"`` is ``K = I``.
- ``E`` (the learned observation operator): ``E(u) = u + e(u)``, ``e`` a pointwise
  MLP whose last layer starts at zero; ``observation="identity"`` is ``E = I``.
- units: the model works in physical units and normalises per channel inside
  (``mean``, ``std`` buffers that the training task sets), so the exact linear
  propagator below acts on physical states.
- ``linear="exact"`` (beyond the paper; a reviewer noted the linear part is not
  treated separately): ``u_f = exp(L dt) u_a + F(u_a)`` with ``exp(L dt)`` the
  equation's exact linear propagator from our solvers (``solvers.linear_propagator``),
  so ``F`` learns only the nonlinear remainder.

``operators.load`` returns an ``Observer`` for these runs: ``assimilate`` with
observations, ``predict`` without (the paper's forecast-only mode, alpha = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from operators.models.fno import SMALL_FNO
from operators.registry import BenchSetup, build_nested, register
from solvers.catalog import linear_propagator
from solvers.errors import InputError

GAINS = ("gated", "identity")
OBSERVATIONS = ("learned", "identity")
LINEAR = ("none", "exact")
DEFAULT_NETWORK = {"name": "fno", "hyperparameters": {"modes": 8, "width": 24, "layers": 3}}


def _network(spec: dict | None, in_channels: int, out_channels: int, ndim: int, grid_size: int | None) -> nn.Module:
    return build_nested(
        spec or DEFAULT_NETWORK, in_channels, out_channels, "semilinear-observer", ndim=ndim, grid_size=grid_size
    )


class SemilinearObserver(nn.Module):
    """Prediction and correction on physical states ``(batch, channels, *grid)`` (see the module docstring)."""

    def __init__(
        self,
        channels: int,
        ndim: int,
        forecast: nn.Module,
        gain: nn.Module | None,
        observation_width: int | None,
        propagator: torch.Tensor | None,
    ):
        super().__init__()
        conv = nn.Conv1d if ndim == 1 else nn.Conv2d
        self.ndim, self.channels = ndim, channels
        self.forecast_network, self.gain = forecast, gain
        if observation_width:
            self.observation = nn.Sequential(
                conv(channels, observation_width, 1), nn.GELU(), conv(observation_width, channels, 1)
            )
            nn.init.zeros_(self.observation[-1].weight)
            nn.init.zeros_(self.observation[-1].bias)
        else:
            self.observation = None
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.exact_linear = propagator is not None
        if self.exact_linear:  # rebuilt from the hyperparameters, so not saved
            self.register_buffer("propagator", propagator, persistent=False)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel mean and standard deviation of the training data (physical units)."""
        self.mean.copy_(torch.as_tensor(mean).reshape(-1))
        self.std.copy_(torch.as_tensor(std).reshape(-1))

    def _shape(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, *(1,) * self.ndim)
        return self.mean.reshape(shape).to(x.dtype), self.std.reshape(shape).to(x.dtype)

    def linear_part(self, u: torch.Tensor) -> torch.Tensor:
        """``exp(L dt) u`` (``linear="exact"``) or ``u``."""
        if not self.exact_linear:
            return u
        axes = tuple(range(-self.ndim, 0))
        if tuple(u.shape[-self.ndim :]) != tuple(self.propagator_grid):
            raise InputError(f"linear='exact' is built for a {self.propagator_grid} grid, got {tuple(u.shape[2:])}")
        u_hat = torch.fft.rfftn(u.double(), dim=axes) * self.propagator
        return torch.fft.irfftn(u_hat, s=u.shape[-self.ndim :], dim=axes).to(u.dtype)

    @property
    def propagator_grid(self) -> tuple[int, ...]:
        n = self.propagator.shape[0] if self.ndim == 2 else 2 * (self.propagator.shape[-1] - 1)
        return (n,) * self.ndim

    def forecast(self, u: torch.Tensor) -> torch.Tensor:
        """``u_f = linear(u) + F(u)``: physical ``(batch, C, *grid)`` -> the next frame's forecast."""
        mean, std = self._shape(u)
        return self.linear_part(u) + std * self.forecast_network((u - mean) / std)

    def observe(self, u: torch.Tensor) -> torch.Tensor:
        """``E(u)``: what the sensors would read for state ``u``."""
        if self.observation is None:
            return u
        mean, std = self._shape(u)
        return u + std * self.observation((u - mean) / std)

    def correct(self, forecast: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``u_a = u_f + K(u_f)[mask * (y - E(u_f))]``; ``mask`` ``(batch, 1, *grid)`` (1 at sensors)."""
        innovation = mask * (values - self.observe(forecast))
        if self.gain is None:
            return forecast + innovation
        mean, std = self._shape(forecast)
        scaled = innovation / std
        gate, spread = self.gain(torch.cat([(forecast - mean) / std, scaled, mask], dim=1)).chunk(2, dim=1)
        return forecast + std * torch.sigmoid(gate) * (scaled + spread)

    def forward(
        self, initial: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Assimilate a window: ``initial`` guess ``(batch, C, *grid)`` at frame 0, observations
        ``values`` ``(batch, T, C, *grid)`` and ``mask`` ``(batch, T, 1, *grid)``.

        Returns the analysed states ``(batch, T, C, *grid)`` (frame 0: the corrected
        guess; frame k: the corrected forecast from frame k - 1; uncorrected where a frame
        has no observation) and ``E`` of the state before each correction (for the
        measurement loss), same shape.
        """
        states, readings = [], []
        u = initial
        for k in range(values.shape[1]):
            if k > 0:
                u = self.forecast(u)
            readings.append(self.observe(u))
            if bool(mask[:, k].any()):
                u = self.correct(u, values[:, k], mask[:, k])
            states.append(u)
        return torch.stack(states, dim=1), torch.stack(readings, dim=1)


# benched as a forecaster from its last (true) state, so trained from the true first state: from the
# climatological guess its forecasts learn to start from poor analyses (rollout 0.668 against 0.234)
@register(
    "semilinear-observer",
    bench=BenchSetup(
        task="observer",
        small={"inner": {"name": "fno", "hyperparameters": SMALL_FNO}},
        width_key=None,
        task_options={"warmup": 2, "horizon": 2, "initial": "truth"},
    ),
)
def build_semilinear_observer(
    in_channels: int,
    out_channels: int,
    ndim: int,
    grid_size: int | None = None,
    inner: dict | None = None,
    gain: str = "gated",
    gain_network: dict | None = None,
    observation: str = "learned",
    observation_width: int = 32,
    linear: str = "none",
    equation: str | None = None,
    coefficients: dict | None = None,
    length: float | None = None,
    dt: float | None = None,
) -> nn.Module:
    """The semilinear observer (see the module docstring).

    Args:
        inner: the forecast network ``F`` as ``{name, hyperparameters}`` (default a small FNO).
        gain: ``gated`` (learned, ``gain_network``: default a small FNO) or ``identity``.
        observation: ``learned`` (``E = I + pointwise MLP`` of ``observation_width``) or ``identity``.
        linear: ``none`` or ``exact`` (needs ``equation``, ``coefficients``, ``length``, ``dt``
            and ``grid_size``: the training task fills them in from the data).
    """
    if in_channels != out_channels:
        raise InputError("the observer maps a state to the next state: in_channels must equal out_channels")
    for name, value, allowed in (
        ("gain", gain, GAINS),
        ("observation", observation, OBSERVATIONS),
        ("linear", linear, LINEAR),
    ):
        if value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    propagator = None
    if linear == "exact":
        missing = [
            k
            for k, v in (("equation", equation), ("length", length), ("dt", dt), ("grid_size", grid_size))
            if v is None
        ]
        if missing:
            raise InputError(f"linear='exact' needs {missing} (the training task fills them in from the data)")
        propagator = linear_propagator(equation, grid_size, length, dt, dict(coefficients or {}))
    forecast_network = _network(inner, in_channels, in_channels, ndim, grid_size)
    gain_module = (
        None if gain == "identity" else _network(gain_network, 2 * in_channels + 1, 2 * in_channels, ndim, grid_size)
    )
    width = observation_width if observation == "learned" else None
    return SemilinearObserver(in_channels, ndim, forecast_network, gain_module, width, propagator)
