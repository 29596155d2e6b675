"""Classical data assimilation with a model that advances states: the ensemble Kalman filter and nudging.

These are the anchors a learned observer is compared with. Both take
``advance(states) -> states``, a function that moves a batch of states
``(members, *shape)`` forward by one observation interval (a spectral solver's
``step(u, substeps)``, or any linear propagator), and observations on the
state's grid: ``values`` ``(time, *shape)`` with a ``mask`` ``(time, *shape)``
(1 where a sensor reads; a frame of zeros has no observation).

- ``ensemble_kalman_filter``: the stochastic EnKF (Burgers, van Leeuwen &
  Evensen 1998) with perturbed observations, multiplicative inflation of the
  forecast anomalies, and optional Gaspari-Cohn localisation of the gain by
  periodic distance on the grid.
- ``nudging``: Newtonian relaxation at observation times,
  ``u <- u + gamma * mask * (y - u)``, with the model spreading the corrected
  values between them.

The analysis at frame 0 corrects the initial ensemble (or state) if frame 0 is
observed; frame ``k`` is advanced from ``k - 1`` and then corrected.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from solvers.errors import InputError

Advance = Callable[[torch.Tensor], torch.Tensor]


def gaspari_cohn(distance: torch.Tensor, radius: float) -> torch.Tensor:
    """The Gaspari-Cohn (1999) fifth-order taper: 1 at distance 0, 0 beyond ``2 * radius``."""
    r = distance / radius
    inner = -0.25 * r**5 + 0.5 * r**4 + 0.625 * r**3 - 5 / 3 * r**2 + 1
    outer = r**5 / 12 - 0.5 * r**4 + 0.625 * r**3 + 5 / 3 * r**2 - 5 * r + 4 - 2 / (3 * r.clamp(min=1e-12))
    return torch.where(r <= 1, inner, torch.where(r < 2, outer, torch.zeros_like(r)))


def periodic_distances(shape: tuple[int, ...], spacing: float) -> torch.Tensor:
    """``(points, points)`` distances between the points of a periodic grid of ``shape`` (spacing ``spacing``)."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    squared = torch.zeros(math.prod(shape), math.prod(shape), dtype=torch.float64)
    for axis, n in zip(axes, shape, strict=True):
        flat = axis.reshape(-1)
        offset = (flat[:, None] - flat[None, :]).abs()
        squared += (torch.minimum(offset, n - offset) * spacing) ** 2
    return squared.sqrt()


def _check(values: torch.Tensor, mask: torch.Tensor, state_shape: tuple[int, ...]) -> None:
    if tuple(values.shape) != tuple(mask.shape) or tuple(values.shape[1:]) != tuple(state_shape):
        raise InputError(
            f"values and mask must both be (time, *state) = (T, {', '.join(map(str, state_shape))}), "
            f"got {tuple(values.shape)} and {tuple(mask.shape)}"
        )


def ensemble_kalman_filter(
    advance: Advance,
    ensemble: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    noise_std: float,
    inflation: float = 1.0,
    localization: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assimilate ``values`` with a stochastic EnKF.

    Args:
        advance: moves ``(members, *shape)`` by one observation interval.
        ensemble: the initial ensemble ``(members, *shape)`` (members >= 2).
        values, mask: observations and sensors ``(time, *shape)``.
        noise_std: the observations' noise standard deviation (> 0; the filter's ``R = noise_std^2 I``).
        inflation: multiplies the forecast anomalies before each analysis (>= 1).
        localization: ``(points, points)`` taper (for example ``gaspari_cohn(periodic_distances(...), r)``)
            applied elementwise to the gain's covariances; None for none.
        generator: for the observation perturbations.

    Returns:
        The ensemble mean ``(time, *shape)`` and the final ensemble ``(members, *shape)``.
    """
    members, shape = ensemble.shape[0], tuple(ensemble.shape[1:])
    _check(values, mask, shape)
    if members < 2:
        raise InputError(f"the ensemble needs at least 2 members, got {members}")
    if not noise_std > 0:
        raise InputError(f"noise_std must be > 0 (the filter needs an observation error), got {noise_std!r}")
    if not inflation >= 1:
        raise InputError(f"inflation must be >= 1, got {inflation!r}")
    x = ensemble.reshape(members, -1).double()
    means = []
    for k in range(values.shape[0]):
        if k > 0:
            x = advance(x.reshape(members, *shape)).reshape(members, -1).double()
        observed = mask[k].reshape(-1).nonzero().flatten()
        if observed.numel():
            x = _analysis(
                x, values[k].reshape(-1)[observed].double(), observed, noise_std, inflation, localization, generator
            )
        means.append(x.mean(dim=0))
    return torch.stack(means).reshape(values.shape[0], *shape), x.reshape(members, *shape)


def _analysis(x, y, observed, noise_std, inflation, localization, generator) -> torch.Tensor:
    """One perturbed-observation EnKF update of ``x`` ``(members, points)`` with ``y`` at ``observed``."""
    members = x.shape[0]
    mean = x.mean(dim=0, keepdim=True)
    anomalies = inflation * (x - mean)
    x = mean + anomalies
    observed_anomalies = anomalies[:, observed]  # H A
    cross = anomalies.T @ observed_anomalies / (members - 1)  # P H^T (points, m)
    innovation_cov = observed_anomalies.T @ observed_anomalies / (members - 1)  # H P H^T (m, m)
    if localization is not None:
        taper = localization.to(x)
        cross = cross * taper[:, observed]
        innovation_cov = innovation_cov * taper[observed][:, observed]
    innovation_cov = innovation_cov + noise_std**2 * torch.eye(len(observed), dtype=x.dtype)
    perturbed = y[None] + noise_std * torch.randn(members, len(observed), generator=generator, dtype=x.dtype)
    gain_times = torch.linalg.solve(innovation_cov, (perturbed - x[:, observed]).T)  # (m, members)
    return x + (cross @ gain_times).T


def nudging(
    advance: Advance, initial: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, relaxation: float = 0.5
) -> torch.Tensor:
    """Newtonian relaxation: ``u <- u + relaxation * mask * (y - u)`` at each observed frame.

    Args:
        advance: moves ``(batch, *shape)`` by one observation interval; called with a batch of one.
        initial: the initial state ``(*shape)``.
        relaxation: in (0, 1]; 1 replaces the state by the observations at the sensors.

    Returns:
        The states ``(time, *shape)``.
    """
    _check(values, mask, tuple(initial.shape))
    if not 0 < relaxation <= 1:
        raise InputError(f"relaxation must lie in (0, 1], got {relaxation!r}")
    u, states = initial.double(), []
    for k in range(values.shape[0]):
        if k > 0:
            u = advance(u[None])[0].double()
        u = u + relaxation * mask[k].double() * (values[k].double() - u)
        states.append(u)
    return torch.stack(states)
