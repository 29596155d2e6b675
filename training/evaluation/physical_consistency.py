"""Physical parameters read back from 2D vorticity trajectories, to check generated flows against the
parameters they were asked for (Text2PDE's text conditioning): viscosity from the enstrophy budget,
the Kolmogorov forcing's wavenumber from the mean flow, energy spectra, and sample diversity.

For ``w_t + v . grad w = nu lap w + f`` on a periodic square the advection conserves enstrophy, so
``d/dt <w^2>/2 = -nu <|grad w|^2> + <f w>`` (``<.>`` the domain mean). Given frames ``dt`` apart and
the forcing, ``nu`` is the least-squares fit of that budget over consecutive frame pairs (time
derivative by differences, the other terms at the pair's midpoint). It needs no model, so it is first
checked on the solver's own trajectories.
"""

from __future__ import annotations

import math

import torch

from solvers.spectral import spectral_grid


def _gradient_squared_mean(w: torch.Tensor, length: float) -> torch.Tensor:
    """``<|grad w|^2>`` per frame of ``w`` ``(time, n, n)``, spectrally (Parseval)."""
    n = w.shape[-1]
    kx, ky = spectral_grid(n, length, 2)
    w_hat = torch.fft.rfft2(w.double()) / n**2
    weights = torch.full(w_hat.shape[-2:], 2.0, dtype=torch.float64)
    weights[:, 0] = 1.0  # rfft's self-conjugate column counts once
    if n % 2 == 0:
        weights[:, -1] = 1.0
    return ((kx**2 + ky**2) * weights * w_hat.abs() ** 2).sum(dim=(-2, -1))


def enstrophy_budget_viscosity(
    w: torch.Tensor, dt: float, length: float = 1.0, forcing: torch.Tensor | None = None
) -> float:
    """The viscosity that best closes the enstrophy budget of frames ``w`` ``(time, n, n)`` ``dt`` apart."""
    w = w.double()
    enstrophy = 0.5 * w.square().mean(dim=(-2, -1))
    dissipation = _gradient_squared_mean(w, length)
    production = (w * forcing.double()).mean(dim=(-2, -1)) if forcing is not None else torch.zeros_like(enstrophy)
    rate = enstrophy.diff() / dt
    dissipation_mid = 0.5 * (dissipation[1:] + dissipation[:-1])
    production_mid = 0.5 * (production[1:] + production[:-1])
    return float(((production_mid - rate) * dissipation_mid).sum() / dissipation_mid.square().sum().clamp_min(1e-30))


def mean_flow_wavenumber(w: torch.Tensor) -> int:
    """The dominant wavenumber (cycles per domain) of the x- and time-averaged vorticity ``w`` ``(time, n, n)``:
    a Kolmogorov flow forced by ``cos(k y)`` settles into a mean flow at that ``k``."""
    profile = w.double().mean(dim=(0, 1))  # average over time and x: a function of y
    amplitudes = torch.fft.rfft(profile).abs()
    amplitudes[0] = 0.0
    return int(amplitudes.argmax())


def energy_spectrum(w: torch.Tensor, length: float = 1.0) -> torch.Tensor:
    """Kinetic energy per integer wavenumber shell ``(n // 2,)``, time-averaged, from vorticity ``(time, n, n)``
    (``|u_hat|^2 = |w_hat|^2 / |k|^2``)."""
    n = w.shape[-1]
    w_hat = torch.fft.fft2(w.double()) / n**2
    k = torch.fft.fftfreq(n, d=1.0 / n).double()
    magnitude = (k[:, None] ** 2 + k[None, :] ** 2).sqrt()
    physical = (2 * math.pi / length) ** 2 * magnitude.clamp_min(1e-12) ** 2
    energy = 0.5 * (w_hat.abs() ** 2 / physical).mean(dim=0)
    shells = magnitude.round().long()
    inside = (shells >= 1) & (shells < n // 2)
    return torch.bincount(shells[inside], weights=energy[inside], minlength=n // 2)[: n // 2]


def spectrum_error(generated: torch.Tensor, truth: torch.Tensor, length: float = 1.0) -> float:
    """Mean absolute difference of the log10 energy spectra (shells 1 .. n/2 - 1) of two trajectories."""
    a, b = energy_spectrum(generated, length)[1:], energy_spectrum(truth, length)[1:]
    return float((a.clamp_min(1e-30).log10() - b.clamp_min(1e-30).log10()).abs().mean())


def diversity(samples: torch.Tensor) -> float:
    """Mean pairwise relative L2 distance between the samples ``(S, ...)`` of one condition."""
    flat = samples.double().flatten(1)
    scale = flat.norm(dim=1).mean().clamp_min(1e-30)
    distances = torch.cdist(flat[None], flat[None])[0]
    count = flat.shape[0]
    return float(distances.sum() / (count * (count - 1)) / scale) if count > 1 else 0.0


def spearman(a: list[float] | torch.Tensor, b: list[float] | torch.Tensor) -> float:
    """Spearman rank correlation of two equally long sequences (ties broken by order)."""
    ranks = [torch.as_tensor(x, dtype=torch.float64).argsort().argsort().double() for x in (a, b)]
    ra, rb = (r - r.mean() for r in ranks)
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-30))
