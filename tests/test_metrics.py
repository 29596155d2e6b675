"""Metrics against hand-computed cases (definitions and conventions in training/evaluation/metrics.py)."""

from __future__ import annotations

import math

import pytest
import torch

from training.evaluation.metrics import (
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
    # The Well's PearsonR: biased covariance over unbiased deviations, so +-(N - 1) / N on N = 32 points
    assert torch.allclose(rho, torch.tensor([1.0, 1.0, -1.0, -1.0]) * 31 / 32, atol=1e-5)
    assert high_correlation_time(rho, dt=0.5, threshold=0.9) == 1.0
    assert high_correlation_time(torch.tensor([0.95, 0.5, 0.99]), 1.0, 0.9) == 1.0  # first drop ends it


def test_rollout_metrics_summary():
    target = torch.randn(3, 5, 1, 8, 8)
    report = rollout_metrics(target, target, dt=0.1)
    assert report["summary"]["relative_l2_rollout"] == 0.0
    assert report["summary"]["high_correlation_time_0.9"] == pytest.approx(0.5)
    assert len(report["curves"]["vrmse"]) == 5


def test_nrmse_vrmse_and_correlation_agree_with_the_wells_own_functions():
    from types import SimpleNamespace

    from the_well.benchmark.metrics import NRMSE, VRMSE, PearsonR

    generator = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, 2, 16, 12, generator=generator)  # (batch, time, channels, x, y)
    prediction = target + 0.3 * torch.randn(3, 4, 2, 16, 12, generator=generator)
    meta = SimpleNamespace(n_spatial_dims=2)

    def well(metric):  # The Well's layout is (..., x, y, channels); average its (b, t, c) values over b, then c
        values = metric.eval(prediction.permute(0, 1, 3, 4, 2), target.permute(0, 1, 3, 4, 2), meta)
        return values.mean(dim=0).mean(dim=-1)

    assert torch.allclose(nrmse_per_step(prediction, target), well(NRMSE), rtol=1e-5)
    assert torch.allclose(vrmse_per_step(prediction, target), well(VRMSE), rtol=1e-5)
    assert torch.allclose(correlation_per_step(prediction, target), well(PearsonR), rtol=1e-5)
    # on an all-zero target the floor under the root decides: sqrt(1e-4 / 1e-7) = 31.6, as The Well gives
    zero = torch.zeros(1, 1, 1, 8)
    assert nrmse_per_step(zero + 1e-2, zero).item() == pytest.approx(31.62, rel=1e-3)


def pdebench_metrics(pred: torch.Tensor, target: torch.Tensor, length: float = 1.0) -> dict:
    """PDEBench's metric_func (pdebench/models/metrics.py), re-implemented here from its published code,
    in its own layout (batch, x..., time, channels) with its own loops, for 1D and 2D."""
    pred, target = pred.movedim(-1, 1), target.movedim(-1, 1)  # (b, c, x..., t)
    nb, nc, nt = pred.shape[0], pred.shape[1], pred.shape[-1]
    flat_p, flat_u = pred.reshape(nb, nc, -1, nt), target.reshape(nb, nc, -1, nt)
    points = flat_p.shape[2]
    csv = torch.sqrt(torch.mean((flat_p.sum(2) - flat_u.sum(2)) ** 2, dim=0)) / points
    worst = torch.max(torch.max((flat_p - flat_u).abs(), dim=2)[0], dim=0)[0]
    if pred.dim() == 4:
        err_f = torch.sqrt(torch.mean(torch.abs(torch.fft.rfft(pred, dim=2) - torch.fft.rfft(target, dim=2)) ** 2, 0))
        err_f = err_f / pred.shape[2] * length
    else:
        nx, ny = pred.shape[2:4]
        energy = torch.abs(torch.fft.fftn(pred, dim=[2, 3]) - torch.fft.fftn(target, dim=[2, 3])) ** 2
        shells = torch.zeros(nb, nc, min(nx // 2, ny // 2), nt, dtype=energy.dtype)
        for i in range(nx // 2):
            for j in range(ny // 2):
                k = math.floor(math.sqrt(i**2 + j**2))
                if k > min(nx // 2, ny // 2) - 1:
                    continue
                shells[:, :, k] += energy[:, :, i, j]
        err_f = torch.sqrt(torch.mean(shells, 0)) / (nx * ny) * length**2
    bands = {"low": err_f[:, :4].mean(1), "mid": err_f[:, 4:12].mean(1), "high": err_f[:, 12:].mean(1)}
    return {"csv": csv.mean(), "max": worst.mean(), **{k: v.mean() for k, v in bands.items()}}


@pytest.mark.parametrize("grid", [(40,), (32, 28)])
def test_crmse_max_error_and_frmse_agree_with_pdebenchs_formulas(grid):
    from training.evaluation.metrics import conserved_rmse, fourier_rmse, max_error

    generator = torch.Generator().manual_seed(1)
    target = torch.randn(3, 5, 2, *grid, generator=generator, dtype=torch.float64)  # ours: (b, t, c, *grid)
    prediction = target + 0.2 * torch.randn(3, 5, 2, *grid, generator=generator, dtype=torch.float64)
    theirs = pdebench_metrics(prediction.movedim(1, -1).movedim(1, -1), target.movedim(1, -1).movedim(1, -1), 2.0)
    assert conserved_rmse(prediction, target).item() == pytest.approx(float(theirs["csv"]), rel=1e-10)
    assert max_error(prediction, target).item() == pytest.approx(float(theirs["max"]), rel=1e-10)
    for band, value in fourier_rmse(prediction, target, length=2.0).items():
        assert value == pytest.approx(float(theirs[band]), rel=1e-10), band


def test_crmse_max_error_and_frmse_on_hand_computed_cases():
    from training.evaluation.metrics import conserved_rmse, fourier_rmse, max_error

    x = torch.arange(64, dtype=torch.float64) / 64
    target = torch.zeros(2, 1, 1, 64, dtype=torch.float64)
    offsets = torch.tensor([0.3, 0.4], dtype=torch.float64)
    assert conserved_rmse(target + offsets.reshape(2, 1, 1, 1), target).item() == pytest.approx(
        math.sqrt((0.3**2 + 0.4**2) / 2)  # a constant offset moves the total by N * offset
    )
    spike = target.clone()
    spike[1, 0, 0, 7] = -2.5
    assert max_error(spike, target).item() == 2.5
    wave = 0.8 * torch.cos(2 * math.pi * 2 * x).expand(2, 1, 1, 64)  # error a cos(2 pi k x), k = 2: |F| = a N / 2
    bands = fourier_rmse(wave, target, length=1.0)
    assert bands["low"] == pytest.approx(0.8 / 2 / 4) and bands["mid"] < 1e-12 and bands["high"] < 1e-12


def test_one_step_scores_cover_every_window():
    import operators
    from training.evaluation.metrics import relative_l2_per_step
    from training.evaluation.rollouts import one_step_scores

    model = operators.build("fno", in_channels=1, out_channels=1, ndim=1, modes=4, width=4, layers=1)
    for parameter in model.parameters():
        parameter.data.zero_()  # a residual model that adds nothing predicts persistence exactly
    surrogate = operators.Surrogate(model, [0.0], [1.0], history=1, metadata={"grid": [16]}, residual=True)
    trajectories = torch.randn(3, 6, 1, 16, generator=torch.Generator().manual_seed(2))
    scores = one_step_scores(surrogate, trajectories)
    assert scores["model"] == pytest.approx(scores["persistence"])
    windows = [relative_l2_per_step(trajectories[:, s : s + 1], trajectories[:, s + 1 : s + 2]) for s in range(5)]
    assert scores["model"]["relative_l2_one_step"] == pytest.approx(float(torch.stack(windows).mean()), rel=1e-5)


def test_hs_loss_is_the_papers_hsloss():
    from training.evaluation.metrics import hs_loss

    generator = torch.Generator().manual_seed(3)
    target = torch.randn(4, 32, 32, 1, generator=generator)  # the public layout: (batch, x, y, channels)
    prediction = target + 0.3 * torch.randn(4, 32, 32, 1, generator=generator)
    # utilities3.HsLoss(d=2, p=2, k=1, a=[2.], truncation=True, res=32), re-implemented from its published code
    res = 32
    k = torch.cat((torch.arange(0, res // 2), torch.arange(-res // 2, 0)))
    k_x, k_y = k.reshape(res, 1).repeat(1, res), k.reshape(1, res).repeat(res, 1)
    k_x = (k_x.abs() * (k_x.abs() < 20)).reshape(1, res, res, 1)
    k_y = (k_y.abs() * (k_y.abs() < 20)).reshape(1, res, res, 1)
    weight = torch.sqrt(1 + 2.0**2 * (k_x**2 + k_y**2))
    x = torch.fft.fftn(prediction, dim=[1, 2], norm="ortho") * weight
    y = torch.fft.fftn(target, dim=[1, 2], norm="ortho") * weight
    theirs = torch.mean(torch.norm((x - y).reshape(4, -1), 2, 1) / torch.norm(y.reshape(4, -1), 2, 1))
    ours = hs_loss(prediction.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2), ndim=2, a=2.0)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    # hand case in 1D: error 0.1 sin(2 pi 5 x) on sin(2 pi 3 x), integer wavenumbers, a = 1
    x1 = torch.arange(64) / 64
    u = torch.sin(2 * math.pi * 3 * x1).reshape(1, 1, 64)
    p = u + 0.1 * torch.sin(2 * math.pi * 5 * x1).reshape(1, 1, 64)
    assert hs_loss(p, u, ndim=1).item() == pytest.approx(0.1 * math.sqrt(26 / 10), rel=1e-5)
