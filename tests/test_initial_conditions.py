"""Initial-condition generators: spectra and covariances against their formulas, reproducibility, errors."""

from __future__ import annotations

import pytest
import torch

from pde_data import GaussianRandomField, RandomSineSeries, TruncatedFourierSeries


def test_grf_1d_empirical_covariance_matches_the_formula():
    field = GaussianRandomField(32, ndim=1, alpha=2.0, tau=5.0, sigma=25.0)  # FNO's Burgers IC
    u = field.sample(20000, generator=0)
    empirical = (u * u[:, :1]).mean(0)
    theory = field.covariance((torch.arange(32, dtype=torch.float64) / 32)[:, None])
    assert (empirical - theory).abs().max() < 0.03 * theory[0]
    assert u.mean().abs() < 0.02 * theory[0].sqrt()


def test_grf_2d_power_spectrum_matches_the_eigenvalues():
    n, length = 16, 2.0
    field = GaussianRandomField(n, ndim=2, length=length, alpha=2.5, tau=7.0)
    u = field.sample(6000, generator=1)
    power = (torch.fft.rfft2(u).abs() ** 2).mean(0)
    expected = field.eigenvalues() * n**4 / length**2  # E|u_hat_m|^2 = lambda_m N^2d / L^d
    nonzero = expected > 0
    ratio = power[nonzero] / expected[nonzero]
    assert (ratio - 1).abs().max() < 0.12 and (ratio.mean() - 1).abs() < 0.01
    assert power[0, 0] < 1e-20  # zero mean, exactly


def test_grf_default_sigma_is_fno_and_samples_are_reproducible():
    field = GaussianRandomField(16, ndim=2)
    assert field.sigma == pytest.approx(7.0**1.5)
    a = field.sample(3, generator=7)
    assert torch.equal(a, field.sample(3, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, field.sample(3, generator=8))
    assert field.sample(2, generator=7, dtype=torch.float32).dtype == torch.float32


def test_sine_series_is_a_sum_of_the_stated_sines():
    ic = RandomSineSeries(64, terms=10, amplitude=0.5, wavenumbers=(1, 2))
    u = ic.sample(50, generator=0)
    spectrum = torch.fft.rfft(u).abs()
    assert spectrum[:, [0, *range(3, 33)]].max() < 1e-10 * spectrum.max()
    assert u.abs().max() <= 10 * 0.5
    assert torch.equal(u, ic.sample(50, generator=0))


def test_truncated_fourier_series_keeps_low_modes_and_peak():
    ic = TruncatedFourierSeries(32, ndim=2, cutoff=4, max_amplitude=2.0)
    u = ic.sample(5, generator=3)
    assert torch.allclose(u.flatten(1).abs().amax(1), torch.full((5,), 2.0, dtype=torch.float64))
    spectrum = torch.fft.rfft2(u).abs()
    assert spectrum[:, 4:-3, :].max() < 1e-10 and spectrum[:, :, 4:].max() < 1e-10
    assert spectrum[:, 0, 0].max() < 1e-10


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: GaussianRandomField(16, alpha=-1.0), "alpha must be"),
        (lambda: GaussianRandomField(16, ndim=4), "ndim must be"),
        (lambda: GaussianRandomField(16).sample(0), "batch must be"),
        (lambda: RandomSineSeries(16, wavenumbers=(0,)), "wavenumbers must be positive"),
        (lambda: TruncatedFourierSeries(8, cutoff=5), "needs at least 10 grid points"),
    ],
)
def test_bad_arguments_raise_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_generator_type_is_refused():
    with pytest.raises(TypeError, match="generator must be"):
        GaussianRandomField(8).sample(1, generator="seed")
