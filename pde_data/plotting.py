"""Pictures of generated datasets: space-time diagrams (1D), snapshot rows (2D), animations."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pde_data.loading import open as open_dataset
from pde_data.loading import unusable
from pde_data.storage import file_recipe
from solvers.errors import InputError


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg, independent of pyplot and of the session's backend."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _color_limit(values: np.ndarray) -> float:
    """The largest finite magnitude (symmetric colour scales), 1 for an all-zero or all-blank field."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _sample_arrays(path: str | Path, sample: int):
    ds = open_dataset(path)
    n = ds.sizes["sample"]
    if not -n <= sample < n:
        raise InputError(f"sample {sample} is out of range: the file has {n} trajectories (0 to {n - 1})")
    field_name = file_recipe(path).field_name  # the solved field
    values = np.asarray(ds[field_name][sample].values)
    bad = unusable(values)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        warnings.warn(
            f"{path}: sample {sample} of {field_name} has {int(bad.sum())} non-finite or overflowing values "
            f"(first at frame {frame}); they are drawn blank",
            stacklevel=3,
        )
        values = np.where(bad, np.nan, values)
    time = ds["time"].values
    time = time[sample] if time.ndim == 2 else time
    x = ds["x"].values
    x = x[sample] if x.ndim == 2 else x
    return ds, field_name, values, time, x


def plot_sample(path: str | Path, out: str | Path, sample: int = 0, frames: int = 6) -> Path:
    """Save a picture of trajectory ``sample``: a space-time diagram (1D) or ``frames`` snapshots (2D)."""
    ds, field_name, values, time, x = _sample_arrays(path, sample)
    title = f"{ds.attrs['dataset_name']}, sample {sample}"
    limit = _color_limit(values)
    if values.ndim == 2:
        fig = _figure(8, 4)
        ax = fig.subplots()
        dx = x[1] - x[0]
        image = ax.imshow(
            values.T,
            origin="lower",
            aspect="auto",
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            extent=(time[0], time[-1], x[0], x[-1] + dx),
        )
        ax.set(xlabel="t", ylabel="x", title=title)
        fig.colorbar(image, ax=ax, label=field_name)
    else:
        chosen = np.unique(np.linspace(0, len(time) - 1, min(frames, len(time))).round().astype(int))
        fig = _figure(3 * len(chosen), 3.2)
        axes = fig.subplots(1, len(chosen), squeeze=False)
        for ax, index in zip(axes[0], chosen):
            image = ax.imshow(values[index].T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set(title=f"t = {time[index]:.3g}", xticks=[], yticks=[])
        fig.suptitle(title)
        fig.colorbar(image, ax=list(axes[0]), label=field_name, shrink=0.8)
    out = Path(out)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


def animate_sample(path: str | Path, out: str | Path, sample: int = 0, fps: int = 8) -> Path:
    """Save a GIF of trajectory ``sample``: the profile over time (1D) or the field (2D)."""
    ds, field_name, values, time, x = _sample_arrays(path, sample)
    limit = _color_limit(values)
    fig = _figure(5, 4) if values.ndim == 2 else _figure(4.6, 4)
    fig.set_layout_engine("constrained")  # no wide margins around the frames
    ax = fig.subplots()
    if values.ndim == 2:
        (line,) = ax.plot(x, values[0])
        ax.set(ylim=(-1.05 * limit, 1.05 * limit), xlabel="x", ylabel=field_name)

        def draw(i):
            line.set_ydata(values[i])
            ax.set_title(f"{ds.attrs['dataset_name']}, sample {sample}, t = {time[i]:.3g}")
            return (line,)
    else:
        image = ax.imshow(values[0].T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xticks=[], yticks=[], xlabel="x", ylabel="y")
        fig.colorbar(image, ax=ax, label=field_name, shrink=0.85)

        def draw(i):
            image.set_data(values[i].T)
            ax.set_title(f"{ds.attrs['dataset_name']}, sample {sample}, t = {time[i]:.3g}")
            return (image,)

    movie = animation.FuncAnimation(fig, draw, frames=len(time), blit=False)
    out = Path(out)
    movie.save(out, writer=animation.PillowWriter(fps=fps))
    return out
