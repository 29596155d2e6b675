"""The Fourier resampler against exact trigonometric evaluation: up, down, Nyquist, round trip."""

from __future__ import annotations

import math

import pytest
import torch

import solvers
from solvers import fourier_resample


def grid(n: int, ndim: int, length: float = 1.0) -> tuple[torch.Tensor, ...]:
    x = torch.arange(n, dtype=torch.float64) * length / n
    return torch.meshgrid(*(x,) * ndim, indexing="ij")


def band_limited_2d(nx: int, ny: int | None = None) -> torch.Tensor:
    """A field with modes |k| <= 5 on each axis (below the Nyquist of 16 points), evaluated exactly on nx x ny."""
    x = torch.arange(nx, dtype=torch.float64) / nx
    y = torch.arange(ny or nx, dtype=torch.float64) / (ny or nx)
    x, y = torch.meshgrid(x, y, indexing="ij")
    return (
        torch.sin(2 * math.pi * (3 * x - y))
        + 0.5 * torch.cos(2 * math.pi * (5 * x + 2 * y))
        - 0.25 * torch.sin(2 * math.pi * 4 * y)
        + 0.1
    )


def test_upsampling_a_band_limited_field_is_exact():
    # the old prediction.upsample padded the full-FFT axis at its end and was off by 2.0 here
    x16, y16 = grid(16, 2)
    x64, y64 = grid(64, 2)
    coarse = torch.sin(2 * math.pi * (3 * x16 - y16))[None]
    fine = fourier_resample(coarse, 64, ndim=2)
    assert fine.shape == (1, 64, 64)
    assert torch.allclose(fine[0], torch.sin(2 * math.pi * (3 * x64 - y64)), atol=1e-12)
    assert torch.allclose(fourier_resample(band_limited_2d(16), (48, 40)), band_limited_2d(48, 40), atol=1e-12)


def test_downsampling_a_band_limited_field_is_exact_and_equals_point_sampling():
    fine = band_limited_2d(64)
    coarse = fourier_resample(fine, 16, ndim=2)
    assert torch.allclose(coarse, band_limited_2d(16), atol=1e-12)
    assert torch.allclose(coarse, fine[::4, ::4], atol=1e-12)


@pytest.mark.parametrize(("n", "m"), [(64, 16), (63, 16), (64, 15), (30, 20)])
def test_downsampling_equals_truncating_the_spectrum(n, m):
    """Truncate to |k| <= m/2 on the fine grid, evaluate the truncated sum at the coarse points (an independent route)."""
    u = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n + m))
    spectrum = torch.fft.fft(u, norm="forward")
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    spectrum[:, k.abs() > m / 2] = 0
    x = torch.arange(m, dtype=torch.float64) / m
    phases = torch.exp(2j * math.pi * k[:, None] * x[None, :])  # (n modes, m points)
    expected = (spectrum @ phases.to(spectrum.dtype)).real
    assert torch.allclose(fourier_resample(u, m), expected, atol=1e-12)


def test_nyquist_mode_is_split_on_the_way_up_and_summed_on_the_way_down():
    x8, x16 = grid(8, 1)[0], grid(16, 1)[0]
    nyquist = torch.cos(2 * math.pi * 4 * x8)  # (-1)^j on 8 points
    assert torch.allclose(fourier_resample(nyquist, 16), torch.cos(2 * math.pi * 4 * x16), atol=1e-12)
    # a sine at the coarse Nyquist vanishes on the coarse points; the cosine survives whole
    fine = torch.sin(2 * math.pi * 4 * x16) + torch.cos(2 * math.pi * 4 * x16)
    assert torch.allclose(fourier_resample(fine, 8), nyquist, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2])
def test_round_trip_up_then_down_is_the_identity(ndim):
    u = torch.randn(2, 3, *(12,) * ndim, dtype=torch.float64)  # white noise, Nyquist included
    assert torch.allclose(fourier_resample(fourier_resample(u, 40, ndim), 12, ndim), u, atol=1e-12)
    assert fourier_resample(u.float(), 20, ndim).dtype == torch.float32
    assert fourier_resample(u, 12, ndim) is u


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(solvers.InputError, match="grid sizes must be positive integers"):
        fourier_resample(torch.zeros(4, 8), 0)
    with pytest.raises(solvers.InputError, match="does not match ndim"):
        fourier_resample(torch.zeros(8), (4, 4))
    with pytest.raises(solvers.InputError, match="floating-point or complex tensor"):
        fourier_resample(torch.zeros(8, dtype=torch.int64), 4)
