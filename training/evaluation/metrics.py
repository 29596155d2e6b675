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
#: The Well's floor under the square root of NRMSE, VRMSE and in PearsonR's denominator
WELL_EPSILON = 1e-7
VRMSE_EPSILON = WELL_EPSILON


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


def nrmse_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = WELL_EPSILON) -> torch.Tensor:
    """nRMSE per step: ``sqrt(mean_x (p-u)^2 / (mean_x u^2 + eps))`` per b, c, t; mean over b, then c: ``(time,)``.

    The Well's NRMSE (eps 1e-7 under the root). PDEBench's nRMSE is the same without
    eps (``sqrt(mean (p-u)^2) / sqrt(mean u^2)``); the two differ only where the target
    is near zero: on an all-zero target an error of 1e-2 scores 31.6 here, infinity there.
    """
    mse = ((prediction - target) ** 2).flatten(3).mean(dim=3)
    norm = (target**2).flatten(3).mean(dim=3)
    return (mse / (norm + eps)).sqrt().mean(dim=0).mean(dim=-1)


def nrmse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """nRMSE of rollouts: per b, c, t, averaged over b, then over c and t."""
    return nrmse_per_step(prediction, target).mean()


def vrmse_per_step(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Well's VRMSE ``sqrt(mean_x (p-u)^2 / (Var_x(u) + 1e-7))`` (unbiased variance) per sample, step and
    channel, averaged over samples and channels: ``(time,)``. Predicting the field's mean scores 1."""
    mse = ((prediction - target) ** 2).flatten(3).mean(dim=3)
    variance = target.flatten(3).var(dim=3, unbiased=True)
    return (mse / (variance + VRMSE_EPSILON)).sqrt().mean(dim=0).mean(dim=-1)


def correlation_per_step(prediction: torch.Tensor, target: torch.Tensor, eps: float = WELL_EPSILON) -> torch.Tensor:
    """The Well's PearsonR per sample, step and channel, averaged over samples then channels: ``(time,)``.

    ``mean_x[(p - p_mean)(u - u_mean)] / (std_x(p) std_x(u) + eps)`` with the mean (biased)
    covariance over unbiased standard deviations, as The Well computes it: a perfect
    prediction on N points scores ``(N - 1) / N``, not 1 (0.9990 on 32^2 points).
    """
    p, u = prediction.flatten(3), target.flatten(3)
    covariance = ((p - p.mean(dim=3, keepdim=True)) * (u - u.mean(dim=3, keepdim=True))).mean(dim=3)
    rho = covariance / (p.std(dim=3) * u.std(dim=3) + eps)
    return rho.mean(dim=0).mean(dim=-1)


def conserved_rmse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PDEBench's cRMSE: per channel and step ``sqrt(mean_b (sum_x p - sum_x u)^2) / N`` (N grid points),
    averaged over channels and steps: how well the total of each field is kept."""
    difference = (prediction.flatten(3).sum(dim=3) - target.flatten(3).sum(dim=3)) / prediction.flatten(3).shape[3]
    return (difference**2).mean(dim=0).sqrt().mean()


def max_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PDEBench's max error: per channel and step the largest ``|p - u|`` over samples and space,
    averaged over channels and steps."""
    worst = (prediction - target).abs().flatten(3).amax(dim=3).amax(dim=0)
    return worst.mean()


def fourier_rmse(
    prediction: torch.Tensor, target: torch.Tensor, length: float = 1.0, bands: tuple[int, int] = (4, 12)
) -> dict[str, float]:
    """PDEBench's fRMSE of rollouts ``(batch, time, channels, *grid)`` (1D or 2D): the error energy per
    Fourier shell, banded.

    Per channel, step and shell ``k``: ``sqrt(mean_b sum_{shell k} |F(p - u)|^2) / N * length^d`` with
    ``F`` the unnormalised FFT over the grid and N its points. 1D shells are the real-FFT
    wavenumbers ``0..n/2``; 2D shells are ``k = floor(sqrt(i^2 + j^2))`` over ``0 <= i < nx/2``,
    ``0 <= j < ny/2`` (one quadrant, as PDEBench sums) with ``k < min(nx, ny) / 2``. Returns the mean
    over shells in ``low`` (``k < 4``), ``mid`` (``4 <= k < 12``) and ``high`` (``k >= 12``), each averaged
    over channels and steps; a band the grid does not reach is left out.
    """
    error = (prediction - target).double()
    ndim = error.dim() - 3
    points = error.flatten(3).shape[3]
    if ndim == 1:
        energy = torch.fft.rfft(error, dim=-1).abs() ** 2  # (b, t, c, k)
    elif ndim == 2:
        nx, ny = error.shape[-2:]
        spectrum = torch.fft.fftn(error, dim=(-2, -1)).abs() ** 2
        shells = min(nx // 2, ny // 2)
        i = torch.arange(nx // 2, dtype=torch.float64)[:, None]
        j = torch.arange(ny // 2, dtype=torch.float64)[None, :]
        index = torch.floor(torch.sqrt(i**2 + j**2)).long()
        quadrant = spectrum[..., : nx // 2, : ny // 2]
        keep = index < shells
        energy = torch.zeros(*error.shape[:3], shells, dtype=torch.float64)
        energy.index_add_(3, index[keep], quadrant[..., keep])
    else:
        raise ValueError(f"fourier_rmse handles 1D and 2D grids, got {ndim}D")
    per_shell = energy.mean(dim=0).sqrt() / points * length**ndim  # (t, c, k)
    low, high = bands
    out = {}
    for name, selection in (("low", slice(0, low)), ("mid", slice(low, high)), ("high", slice(high, None))):
        band = per_shell[..., selection]
        if band.shape[-1]:
            out[name] = float(band.mean())
    return out


def high_correlation_time(correlation: torch.Tensor, dt: float, threshold: float = 0.9) -> float:
    """Time until the batch-mean correlation first drops to ``threshold`` or below (PDEArena / PDE-Refiner):
    the number of leading steps with ``rho > threshold``, times ``dt``."""
    above = (correlation > threshold).int()
    leading = int(torch.cumprod(above, dim=0).sum())
    return leading * dt


def rollout_metrics(
    prediction: torch.Tensor,
    target: torch.Tensor,
    dt: float,
    channel_names: list[str] | None = None,
    length: float = 1.0,
    fields: dict[str, list[int]] | None = None,
) -> dict:
    """Per-step curves and summaries of rollouts ``(batch, time, channels, *grid)``.

    With ``channel_names`` (one per channel, more than one channel) the report also
    holds ``per_channel``: each channel's summary on its own; with ``fields`` (a field's
    channel indices) whose fields have several components, ``per_field``: each such field's
    summary over its components (each metric averaged over them, as the overall summary averages channels). ``length``: the domain's
    side (fRMSE's scale). ``*_first_step`` is the rollout's first predicted state;
    The Well's one-step score over every window needs the model
    (``training.evaluation.one_step_scores``).
    """
    report = _rollout_metrics(prediction, target, dt, length)
    if channel_names is not None and len(channel_names) > 1:
        report["per_channel"] = {
            name: _rollout_metrics(prediction[:, :, c : c + 1], target[:, :, c : c + 1], dt, length)["summary"]
            for c, name in enumerate(channel_names)
        }
    for name, indices in (fields or {}).items():
        if len(indices) > 1:
            report.setdefault("per_field", {})[name] = _rollout_metrics(
                prediction[:, :, indices], target[:, :, indices], dt, length
            )["summary"]
    return report


def _rollout_metrics(prediction: torch.Tensor, target: torch.Tensor, dt: float, length: float) -> dict:
    curves = {
        "relative_l2": relative_l2_per_step(prediction, target),
        "nrmse": nrmse_per_step(prediction, target),
        "vrmse": vrmse_per_step(prediction, target),
        "correlation": correlation_per_step(prediction, target),
    }
    summary = {
        "relative_l2_first_step": float(curves["relative_l2"][0]),
        "relative_l2_rollout": float(relative_l2(prediction, target, channel_axis=2)),
        "nrmse_rollout": float(curves["nrmse"].mean()),
        "vrmse_first_step": float(curves["vrmse"][0]),
        "vrmse_rollout": float(curves["vrmse"].mean()),
        "conserved_rmse": float(conserved_rmse(prediction, target)),
        "max_error": float(max_error(prediction, target)),
    }
    for first, last in ((6, 12), (13, 30)):  # The Well's rollout windows (steps counted from 1)
        if len(curves["vrmse"]) >= last:
            summary[f"vrmse_steps_{first}_{last}"] = float(curves["vrmse"][first - 1 : last].mean())
    if prediction.dim() - 3 in (1, 2):
        summary.update(
            {f"fourier_rmse_{band}": value for band, value in fourier_rmse(prediction, target, length).items()}
        )
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


def hs_loss(
    prediction: torch.Tensor, target: torch.Tensor, ndim: int, a: float = 1.0, truncation: int | None = 20
) -> torch.Tensor:
    """The FNO/MgNO papers' ``HsLoss`` (k = 1, as their ``utilities3.py`` computes it), per sample, averaged.

    The fields' orthonormal FFT over the last ``ndim`` axes is weighted by
    ``sqrt(1 + a^2 |k|^2)`` with *integer* wavenumbers ``k`` (not ``2 pi k / length``) in which
    every component with ``|k_i| >= truncation`` counts as 0 (so high modes keep weight 1);
    the loss is ``||w (P - U)|| / ||w U||`` over everything but the batch axis (channels and
    time pooled), averaged over samples. MgNO's Navier-Stokes run uses ``a = 2``; the class
    default is ``a = 1``. Unlike ``relative_h1`` (physical wavenumbers, no truncation, per channel).
    """
    axes = tuple(range(-ndim, 0))
    weight = torch.ones((), device=prediction.device)
    for axis, n in enumerate(prediction.shape[-ndim:]):
        k = torch.fft.fftfreq(n, d=1.0 / n, device=prediction.device).abs()
        if truncation is not None:
            k = k * (k < truncation)
        shape = [1] * ndim
        shape[axis] = n
        weight = weight + a**2 * (k**2).reshape(shape)
    weight = weight.sqrt()
    p = torch.fft.fftn(prediction.float(), dim=axes, norm="ortho") * weight
    u = torch.fft.fftn(target.float(), dim=axes, norm="ortho") * weight
    return ((p - u).flatten(1).norm(dim=1) / u.flatten(1).norm(dim=1)).mean()
