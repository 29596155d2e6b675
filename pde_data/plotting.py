"""Pictures of datasets (pdeop's and The Well's): space-time diagrams (1D), snapshot rows (2D), animations."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pde_data.loading import open as open_dataset
from pde_data.loading import unusable
from pde_data.sources import open_source
from pde_data.storage import file_recipe
from pde_data.well import WellWindows
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


def _sample_arrays(path: str | Path, sample: int, channel: str | None = None):
    """``(dataset name, channel name, values (time, *grid), times, x)`` of one trajectory."""
    source = open_source(path)  # a Well directory: its train split
    if not source.generated:
        return _well_sample(source, sample, channel)
    ds = open_dataset(path)
    n = ds.sizes["sample"]
    if not -n <= sample < n:
        raise InputError(f"sample {sample} is out of range: the file has {n} trajectories (0 to {n - 1})")
    field_name = file_recipe(path).field_name  # the solved field
    if channel not in (None, field_name):
        raise InputError(f"{path} is plotted by its solved field {field_name!r}, not {channel!r}")
    values = _blank_unusable(path, sample, field_name, np.asarray(ds[field_name][sample].values))
    time = ds["time"].values
    time = time[sample] if time.ndim == 2 else time
    x = ds["x"].values
    x = x[sample] if x.ndim == 2 else x
    return ds.attrs["dataset_name"], field_name, values, time, x


def _well_sample(data: WellWindows, sample: int, channel: str | None):
    """One channel of one trajectory of The Well's data (a directory: its train split, every trajectory of a file)."""
    path = data.path
    n = len(data.samples)
    if not -n <= sample < n:
        raise InputError(f"sample {sample} is out of range: {path} has {n} trajectories (0 to {n - 1})")
    name = channel or data.channel_names[0]
    if name not in data.channel_names:
        raise InputError(f"{path} has no channel {name!r}; its channels: {', '.join(data.channel_names)}")
    sample %= n
    states = data.trajectory(sample)[:, data.channel_names.index(name)].numpy()
    file, trajectory = data.samples[sample]
    with h5py.File(data.files[file].path, "r") as f:
        time = f["dimensions/time"][()]
    time = time[trajectory] if time.ndim == 2 else time
    values = _blank_unusable(path, sample, name, states)
    return data.description["name"], name, values, time, data.coordinates(sample)


def _blank_unusable(path, sample: int, field_name: str, values: np.ndarray) -> np.ndarray:
    bad = unusable(values)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        warnings.warn(
            f"{path}: sample {sample} of {field_name} has {int(bad.sum())} non-finite or overflowing values "
            f"(first at frame {frame}); they are drawn blank",
            stacklevel=3,
        )
        values = np.where(bad, np.nan, values)
    return values


def plot_sample(
    path: str | Path, out: str | Path, sample: int = 0, frames: int = 6, channel: str | None = None
) -> Path:
    """Save a picture of trajectory ``sample``: a space-time diagram (1D) or ``frames`` snapshots (2D).

    ``channel``: which channel of The Well's data (e.g. ``velocity_x``; default the first)."""
    name, field_name, values, time, x = _sample_arrays(path, sample, channel)
    title = f"{name}, sample {sample}"
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


def animate_sample(
    path: str | Path, out: str | Path, sample: int = 0, fps: int = 8, channel: str | None = None
) -> Path:
    """Save a GIF of trajectory ``sample``: the profile over time (1D) or the field (2D)."""
    name, field_name, values, time, x = _sample_arrays(path, sample, channel)
    limit = _color_limit(values)
    fig = _figure(5, 4) if values.ndim == 2 else _figure(4.6, 4)
    fig.set_layout_engine("constrained")  # no wide margins around the frames
    ax = fig.subplots()
    if values.ndim == 2:
        (line,) = ax.plot(x, values[0])
        ax.set(ylim=(-1.05 * limit, 1.05 * limit), xlabel="x", ylabel=field_name)

        def draw(i):
            line.set_ydata(values[i])
            ax.set_title(f"{name}, sample {sample}, t = {time[i]:.3g}")
            return (line,)
    else:
        image = ax.imshow(values[0].T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xticks=[], yticks=[], xlabel="x", ylabel="y")
        fig.colorbar(image, ax=ax, label=field_name, shrink=0.85)

        def draw(i):
            image.set_data(values[i].T)
            ax.set_title(f"{name}, sample {sample}, t = {time[i]:.3g}")
            return (image,)

    movie = animation.FuncAnimation(fig, draw, frames=len(time), blit=False)
    out = Path(out)
    movie.save(out, writer=animation.PillowWriter(fps=fps))
    return out
