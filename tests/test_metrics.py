"""Metrics against hand-computed cases (definitions and conventions in training/metrics.py)."""

from __future__ import annotations

import math

import pytest
import torch

from training.metrics import (
    correlation_per_step,
    high_correlation_time,
    nrmse,
    nrmse_per_step,
    relative_l2,
    relative_l2_per_step,
    rollout_metrics,
    vrmse_per_step,
)


def test_relative_l2_is_per_sample_then_averaged():
    target = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # norms 5 and 1
    prediction = torch.tensor([[3.0, 4.5], [1.0, 1.0]])  # errors 0.5 and 1
    assert relative_l2(prediction, target).item() == pytest.approx((0.5 / 5 + 1 / 1) / 2, rel=1e-6)
    # a sum over the batch (one library's default) would give 1.1, not 0.55


def test_per_step_curves_and_nrmse():
    target = torch.ones(2, 3, 1, 4)  # (batch, time, channels, x)
    prediction = target.clone()
    prediction[:, 1] += 0.5
    prediction[0, 2] += 1.0
    assert torch.allclose(relative_l2_per_step(prediction, target), torch.tensor([0.0, 0.5, 0.5]))
    assert torch.allclose(nrmse_per_step(prediction, target), torch.tensor([0.0, 0.5, 0.5]))
    assert nrmse(prediction, target).item() == pytest.approx(1 / 3)


def test_vrmse_of_the_mean_is_one_and_uses_unbiased_variance():
    x = torch.linspace(0, 2 * math.pi, 65)[:-1]
    target = torch.sin(x).reshape(1, 1, 1, 64) + 2.0
    mean_prediction = torch.full_like(target, float(target.mean()))
    # biased MSE over unbiased variance: (n - 1) / n below one
    assert vrmse_per_step(mean_prediction, target).item() == pytest.approx(math.sqrt(63 / 64), rel=1e-4)
    assert vrmse_per_step(target, target).item() == 0.0


def test_correlation_and_high_correlation_time():
    x = torch.linspace(0, 1, 32)
    target = torch.stack([torch.sin(6 * x)] * 4).reshape(1, 4, 1, 32)
    prediction = target.clone()
    prediction[0, 2:] = -prediction[0, 2:]  # anticorrelated from step 3 on
    rho = correlation_per_step(prediction, target)
    assert torch.allclose(rho, torch.tensor([1.0, 1.0, -1.0, -1.0]), atol=1e-5)
    assert high_correlation_time(rho, dt=0.5, threshold=0.9) == 1.0
    assert high_correlation_time(torch.tensor([0.95, 0.5, 0.99]), 1.0, 0.9) == 1.0  # first drop ends it


def test_rollout_metrics_summary():
    target = torch.randn(3, 5, 1, 8, 8)
    report = rollout_metrics(target, target, dt=0.1)
    assert report["summary"]["relative_l2_rollout"] == 0.0
    assert report["summary"]["high_correlation_time_0.9"] == pytest.approx(0.5)
    assert len(report["curves"]["vrmse"]) == 5
