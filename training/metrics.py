"""The field's evaluation metrics, with their exact conventions (``shared/reference/metrics.md``).

Shapes: one-step tensors are ``(batch, channels, *grid)``; rollouts are
``(batch, time, channels, *grid)``. Rollout metrics score only the frames they
are given: callers pass predicted frames, never the initial frames a model was
given (scoring those overstates accuracy).
"""

from __future__ import annotations

import torch

#: guards divisions by a zero norm; small against any physical field in float32
EPSILON = 1e-8
#: The Well's VRMSE variance floor
VRMSE_EPSILON = 1e-7


def _per_sample(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


def relative_l2(prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """``||p - u||_2 / (||u||_2 + eps)`` over every non-batch axis, per sample, **averaged** over samples."""
    error = _per_sample(prediction - target).norm(dim=1)
    return (error / (_per_sample(target).norm(dim=1) + eps)).mean()


def relative_l2_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """Rollouts ``(batch, time, ...)``: relative L2 of each step (over channels and space), averaged over samples: ``(time,)``."""
    error = (prediction - target).flatten(2).norm(dim=2)
    return (error / (target.flatten(2).norm(dim=2) + eps)).mean(dim=0)


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
    """Pearson correlation over channels and space, per sample and step, averaged over samples: ``(time,)``."""
    p = prediction.flatten(2) - prediction.flatten(2).mean(dim=2, keepdim=True)
    u = target.flatten(2) - target.flatten(2).mean(dim=2, keepdim=True)
    rho = (p * u).sum(dim=2) / (p.norm(dim=2) * u.norm(dim=2) + eps)
    return rho.mean(dim=0)


def high_correlation_time(correlation: torch.Tensor, dt: float, threshold: float = 0.9) -> float:
    """Time until the batch-mean correlation first drops to ``threshold`` or below (PDEArena / PDE-Refiner):
    the number of leading steps with ``rho > threshold``, times ``dt``."""
    above = (correlation > threshold).int()
    leading = int(torch.cumprod(above, dim=0).sum())
    return leading * dt


def rollout_metrics(prediction: torch.Tensor, target: torch.Tensor, dt: float) -> dict:
    """Per-step curves and summaries of rollouts ``(batch, time, channels, *grid)``."""
    curves = {
        "relative_l2": relative_l2_per_step(prediction, target),
        "nrmse": nrmse_per_step(prediction, target),
        "vrmse": vrmse_per_step(prediction, target),
        "correlation": correlation_per_step(prediction, target),
    }
    summary = {
        "relative_l2_one_step": float(curves["relative_l2"][0]),
        "relative_l2_rollout": float(relative_l2(prediction, target)),
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
    """Relative H1 error on a periodic grid, per sample, averaged over samples.

    ``||p - u||_H1 / (||u||_H1 + eps)`` with ``||v||_H1^2 = sum_k (1 + |k|^2) |v_hat_k|^2``
    over every channel (and time) axis, ``k = 2 pi m / length`` from a full FFT of the
    last ``ndim`` axes: the L2 norm plus that of the gradient, by Parseval.
    """
    axes = tuple(range(-ndim, 0))
    grid = prediction.shape[-ndim:]
    weight = torch.ones((), device=prediction.device)
    for axis, n in enumerate(grid):
        k = torch.fft.fftfreq(n, d=length / n, device=prediction.device) * 2 * torch.pi
        shape = [1] * ndim
        shape[axis] = n
        weight = weight + (k**2).reshape(shape)

    def norm(v: torch.Tensor) -> torch.Tensor:
        return ((torch.fft.fftn(v.float(), dim=axes).abs() ** 2) * weight).flatten(1).sum(dim=1).sqrt()

    return (norm(prediction - target) / (norm(target) + eps)).mean()
