"""The field's evaluation metrics, with their exact conventions (PDEBench, The Well, PDEArena; each docstring says which).

Shapes: one-step tensors are ``(batch, channels, *grid)``; rollouts are
``(batch, time, channels, *grid)``. Rollout metrics score only the frames they
are given: callers pass predicted frames, never the initial frames a model was
given (scoring those overstates accuracy).

Channels: every metric is computed per channel and then averaged over channels
(as The Well and SineNet do), so a field with a large magnitude cannot hide the
error of a small one. ``relative_l2`` does so when given ``channel_axis``.
"""

from __future__ import annotations

import torch

#: guards divisions by a zero norm; small against any physical field in float32
EPSILON = 1e-8
#: The Well's VRMSE variance floor
VRMSE_EPSILON = 1e-7


def relative_l2(
    prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON, channel_axis: int | None = None
) -> torch.Tensor:
    """``||p - u||_2 / (||u||_2 + eps)`` per sample, **averaged** over samples.

    Without ``channel_axis`` the norms run over every non-batch axis; with it (2 for
    ``(batch, time, channels, *grid)``) they run over every other axis, per sample and
    channel, and the ratios are averaged over channels, then samples.
    """
    if channel_axis is not None:
        prediction, target = prediction.movedim(channel_axis, 1), target.movedim(channel_axis, 1)
        error = (prediction - target).flatten(2).norm(dim=2)
        return (error / (target.flatten(2).norm(dim=2) + eps)).mean()
    error = (prediction - target).flatten(1).norm(dim=1)
    return (error / (target.flatten(1).norm(dim=1) + eps)).mean()


def relative_l2_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """Rollouts ``(batch, time, channels, ...)``: relative L2 over space per sample, step and channel,
    averaged over channels and samples: ``(time,)``."""
    error = (prediction - target).flatten(3).norm(dim=3)
    return (error / (target.flatten(3).norm(dim=3) + eps)).mean(dim=2).mean(dim=0)


def nrmse_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """PDEBench nRMSE per step: ``sqrt(mean_x (p-u)^2) / sqrt(mean_x u^2)`` per b, c, t; mean over b, then c: ``(time,)``."""
    mse = ((prediction - target) ** 2).flatten(3).mean(dim=3)
    norm = (target**2).flatten(3).mean(dim=3)
    return (mse.sqrt() / (norm.sqrt() + eps)).mean(dim=0).mean(dim=-1)


def nrmse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PDEBench nRMSE of rollouts: per b, c, t, averaged over b, then over c and t."""
    return nrmse_per_step(prediction, target).mean()


def vrmse_per_step(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Well's VRMSE ``sqrt(mean_x (p-u)^2 / (Var_x(u) + 1e-7))`` (unbiased variance) per sample, step and
    channel, averaged over samples and channels: ``(time,)``. Predicting the field's mean scores 1."""
    mse = ((prediction - target) ** 2).flatten(3).mean(dim=3)
    variance = target.flatten(3).var(dim=3, unbiased=True)
    return (mse / (variance + VRMSE_EPSILON)).sqrt().mean(dim=0).mean(dim=-1)


def correlation_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """Pearson correlation over space per sample, step and channel, averaged over channels and samples: ``(time,)``."""
    p = prediction.flatten(3) - prediction.flatten(3).mean(dim=3, keepdim=True)
    u = target.flatten(3) - target.flatten(3).mean(dim=3, keepdim=True)
    rho = (p * u).sum(dim=3) / (p.norm(dim=3) * u.norm(dim=3) + eps)
    return rho.mean(dim=2).mean(dim=0)


def high_correlation_time(correlation: torch.Tensor, dt: float, threshold: float = 0.9) -> float:
    """Time until the batch-mean correlation first drops to ``threshold`` or below (PDEArena / PDE-Refiner):
    the number of leading steps with ``rho > threshold``, times ``dt``."""
    above = (correlation > threshold).int()
    leading = int(torch.cumprod(above, dim=0).sum())
    return leading * dt


def rollout_metrics(
    prediction: torch.Tensor, target: torch.Tensor, dt: float, channel_names: list[str] | None = None
) -> dict:
    """Per-step curves and summaries of rollouts ``(batch, time, channels, *grid)``.

    With ``channel_names`` (one per channel, more than one channel) the report also
    holds ``per_channel``: each channel's summary on its own.
    """
    report = _rollout_metrics(prediction, target, dt)
    if channel_names is not None and len(channel_names) > 1:
        report["per_channel"] = {
            name: _rollout_metrics(prediction[:, :, c : c + 1], target[:, :, c : c + 1], dt)["summary"]
            for c, name in enumerate(channel_names)
        }
    return report


def _rollout_metrics(prediction: torch.Tensor, target: torch.Tensor, dt: float) -> dict:
    curves = {
        "relative_l2": relative_l2_per_step(prediction, target),
        "nrmse": nrmse_per_step(prediction, target),
        "vrmse": vrmse_per_step(prediction, target),
        "correlation": correlation_per_step(prediction, target),
    }
    summary = {
        "relative_l2_one_step": float(curves["relative_l2"][0]),
        "relative_l2_rollout": float(relative_l2(prediction, target, channel_axis=2)),
        "nrmse_rollout": float(curves["nrmse"].mean()),
        "vrmse_one_step": float(curves["vrmse"][0]),
        "vrmse_rollout": float(curves["vrmse"].mean()),
    }
    for tau in (0.8, 0.9, 0.95):
        summary[f"high_correlation_time_{tau}"] = high_correlation_time(curves["correlation"], dt, tau)
    return {"curves": {k: v.tolist() for k, v in curves.items()}, "summary": summary}


def relative_h1(
    prediction: torch.Tensor, target: torch.Tensor, ndim: int, length: float = 1.0, eps: float = EPSILON
) -> torch.Tensor:
    """Relative H1 error on a periodic grid, per sample and channel, averaged over channels and samples.

    ``||p - u||_H1 / (||u||_H1 + eps)`` with ``||v||_H1^2 = sum_k (1 + |k|^2) |v_hat_k|^2``
    over the grid (and time) axes, ``k = 2 pi m / length`` from a full FFT of the
    last ``ndim`` axes: the L2 norm plus that of the gradient, by Parseval. The
    channel axis is the one before the grid: ``(batch, [time,] channels, *grid)``.
    """
    axes = tuple(range(-ndim, 0))
    grid = prediction.shape[-ndim:]
    weight = torch.ones((), device=prediction.device)
    for axis, n in enumerate(grid):
        k = torch.fft.fftfreq(n, d=length / n, device=prediction.device) * 2 * torch.pi
        shape = [1] * ndim
        shape[axis] = n
        weight = weight + (k**2).reshape(shape)

    channel_axis = prediction.dim() - ndim - 1

    def norm(v: torch.Tensor) -> torch.Tensor:
        energy = (torch.fft.fftn(v.float(), dim=axes).abs() ** 2) * weight
        return energy.movedim(channel_axis, 1).flatten(2).sum(dim=2).sqrt()

    return (norm(prediction - target) / (norm(target) + eps)).mean()
