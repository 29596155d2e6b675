"""The evaluation figures: error along the rollout, and prediction against truth for one trajectory.

Every panel says what it shows (dataset, sample, field, step) and has a colour
bar; the error has its own colour scale (on the truth's scale a good prediction's
error looks blank). Steps count from 1 (the first predicted state), the same
numbering as the error curve and ``evaluation.json``'s curves.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def plot_error_curves(report: dict, path: Path, title: str) -> Figure:
    """Relative L2 of the model and of persistence against the rollout step (markers: a single step shows)."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    curves = {name: np.asarray(report[name]["curves"]["relative_l2"]) for name in ("model", "persistence")}
    steps = np.arange(1, len(curves["model"]) + 1)
    for name, style in (("model", "-o"), ("persistence", "--s")):
        ax.plot(steps, curves[name], style, label=name, markersize=5)
    values = np.concatenate(list(curves.values()))
    values = values[np.isfinite(values) & (values > 0)]
    if values.size:
        ax.set_yscale("log")
        ax.set_ylim(values.min() / 2, values.max() * 2)
    if len(steps) == 1:
        ax.set_xlim(0.5, 1.5)
    ax.set_xticks(steps if len(steps) <= 12 else np.unique(np.linspace(1, len(steps), 10).round()))
    ax.set(xlabel="rollout step (1 = first predicted state)", ylabel="relative L2 error", title=title)
    ax.legend()
    fig.savefig(path, dpi=110)
    return fig


def plot_prediction(
    prediction: torch.Tensor, target: torch.Tensor, path: Path, title: str, field: str, x: np.ndarray | None = None
) -> None:
    """One trajectory ``(steps, channels, *grid)``, its first channel (``field``).

    1D: space-time panels over (step, x); a single step (the operator task) is drawn
    as profiles u(x) instead. 2D: rows truth / prediction / error at up to four steps.
    """
    p, u = prediction[:, 0].numpy(), target[:, 0].numpy()
    limit, error_limit = _limit(u), _limit(p - u)
    if p.ndim == 2:
        fig = _plot_1d(p, u, field, x, limit)
    else:
        fig = _plot_2d(p, u, field, limit, error_limit)
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


def _plot_1d(p: np.ndarray, u: np.ndarray, field: str, x: np.ndarray | None, limit: float) -> Figure:
    x = np.arange(u.shape[1]) if x is None else x
    if len(u) == 1:  # one predicted state: profiles, not a one-pixel-wide space-time panel
        fig = _figure(10, 3.6)
        left, right = fig.subplots(1, 2)
        left.plot(x, u[0], label="truth")
        left.plot(x, p[0], "--", label="prediction")
        left.set(xlabel="x", ylabel=field, title="step 1")
        left.legend()
        right.plot(x, p[0] - u[0], color="C3")
        right.set(xlabel="x", ylabel=f"prediction - truth ({field})", title="error, step 1")
        return fig
    fig = _figure(13, 3.8)
    axes = fig.subplots(1, 3)
    spacing = x[1] - x[0] if len(x) > 1 else 1.0
    extent = (0.5, len(u) + 0.5, x[0], x[-1] + spacing)
    error_limit = _limit(p - u)
    for ax, (name, values, scale) in zip(
        axes, (("truth", u, limit), ("prediction", p, limit), ("error", p - u, error_limit))
    ):
        image = ax.imshow(
            values.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale, extent=extent
        )
        ax.set(title=name, xlabel="rollout step", ylabel="x")
        fig.colorbar(image, ax=ax, label=field if name != "error" else f"error ({field})")
    return fig


def _plot_2d(p: np.ndarray, u: np.ndarray, field: str, limit: float, error_limit: float) -> Figure:
    steps = np.unique(np.linspace(0, len(p) - 1, min(4, len(p))).round().astype(int))
    fig = _figure(2.9 * len(steps) + 1.2, 8)
    axes = fig.subplots(3, len(steps), squeeze=False)
    for row, (name, values, scale) in enumerate(
        (("truth", u, limit), ("prediction", p, limit), ("error", p - u, error_limit))
    ):
        for column, step in enumerate(steps):
            ax = axes[row][column]
            image = ax.imshow(values[step].T, origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set(xticks=[], yticks=[], title=f"{name}, step {step + 1}")
        fig.colorbar(image, ax=list(axes[row]), label=field if name != "error" else f"error ({field})", shrink=0.9)
    return fig


def plot_error_vs_resolution(
    curves: dict[str, list[tuple[int, float]]],
    path: Path,
    title: str,
    trained: int | None = None,
    ylabel: str = "relative L2 error (rollout)",
) -> Figure:
    """Relative L2 against grid points per axis, one line per model (``{label: [(points, error)]}``);
    more than ten lines get twenty distinct colours and the legend beside the axes."""
    many = len(curves) > 10
    fig = _figure(8.5 if many else 6, 4.5 if many else 4)
    ax = fig.subplots()
    colours = matplotlib.colormaps["tab20"].colors if many else [None] * len(curves)
    for (label, points), colour in zip(curves.items(), colours, strict=False):
        resolutions, errors = zip(*sorted(points), strict=True)
        ax.plot(resolutions, errors, "-o", label=label, markersize=5, color=colour)
    if trained is not None:
        ax.axvline(trained, color="grey", linestyle=":", label=f"training grid ({trained})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted({r for points in curves.values() for r, _ in points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set(xlabel="grid points per axis", ylabel=ylabel, title=title)
    if many:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    else:
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig
