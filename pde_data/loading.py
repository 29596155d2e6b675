"""Reading generated datasets: ``open`` (a lazy ``xarray.Dataset``) and the torch datasets of two data modes.

Data modes (what a training task asks for; items are dicts):

- ``window`` (``TrajectoryDataset``): ``history`` frames in, ``horizon`` frames out.
- ``trajectory`` (``FullTrajectoryDataset``): a whole trajectory with its times,
  caption, coefficients and domain length.
- ``initial-condition`` needs no file: ``pde_data.InitialConditionDataset``.

Splits have one meaning: a file generated for the ``valid`` or ``test`` split is
entirely that split; inside a file generated for ``train`` the trajectories are
divided 80 / 10 / 10 % into ``train`` / ``valid`` / ``test`` (first, next, last).
``split=None`` takes every trajectory of the file.

Fields arrive as channels ``(time, channels, *grid)`` in The Well's order
(``pde_data.fields``), with per-channel statistics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
import xarray as xr
from xarray.core import indexing

from pde_data.fields import Channel, file_channels, read_channels
from pde_data.generation import SPLITS
from pde_data.storage import SPATIAL_DIMS, file_identity, file_recipe, read_parameters
from solvers.errors import InputError

#: magnitudes beyond this overflow float32 arithmetic (their squares pass 3.4e38): treated like NaN
UNUSABLE_MAGNITUDE = 1e18
SPLIT_FRACTIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}


def _check_file(path: str | Path) -> Path:
    """A pdeop dataset file (clear InputErrors otherwise: missing, not HDF5, no recipe, no fields)."""
    path = Path(path)
    file_recipe(path)
    with h5py.File(path, "r") as f:
        if "t0_fields" not in f:
            raise InputError(f"{path} is an HDF5 file but not a pdeop dataset (no t0_fields)")
    return path


class EmptySplitError(InputError):
    """A split holds no trajectory of a file (too few trajectories to divide)."""


def split_samples(n_samples: int, file_split: str, split: str | None, path: str | Path = "the file") -> list[int]:
    """Trajectory indices of ``split`` in a file of ``n_samples`` generated for ``file_split``.

    A ``train`` file's trajectories divide 80 / 10 / 10 % into train / valid / test. Where that would leave
    a split empty (fewer than 10 trajectories, e.g. a converted file or a first smoke test), a file of 3 or
    more keeps its last two for valid and test, one each, and trains on the rest; a file of 1 or 2 is all
    train (its valid and test splits are empty: ``EmptySplitError``; training then runs without validation).
    """
    if split is not None and split not in SPLITS:
        raise InputError(f"split must be None or one of {', '.join(SPLITS)}, got {split!r}")
    if split is None:
        return list(range(n_samples))
    if file_split in ("valid", "test"):
        if split != file_split:
            raise InputError(
                f"{path} was generated for the {file_split} split and holds only {file_split} trajectories; "
                f"ask for split {file_split!r} (or all of them)"
            )
        return list(range(n_samples))
    bounds = {name: (round(low * n_samples), round(high * n_samples)) for name, (low, high) in SPLIT_FRACTIONS.items()}
    if any(start == stop for start, stop in bounds.values()):  # too few to divide by fractions
        bounds = {
            "train": (0, n_samples - 2),
            "valid": (n_samples - 2, n_samples - 1),
            "test": (n_samples - 1, n_samples),
        }
        if n_samples < 3:
            bounds = {"train": (0, n_samples), "valid": (0, 0), "test": (0, 0)}
    samples = list(range(*bounds[split]))
    if not samples:
        raise EmptySplitError(
            f"split {split!r} of the {n_samples} trajectories in {path} is empty (a file of 3 or more keeps one "
            "each for valid and test); use a file with more trajectories"
        )
    return samples


def all_usable(values: torch.Tensor) -> bool:
    """Whether every value is finite and within ``UNUSABLE_MAGNITUDE``: one pass (``aminmax`` carries a NaN
    through), about twenty times cheaper than ``unusable``'s mask, which only a failing read then needs."""
    if values.numel() == 0:
        return True
    low, high = torch.aminmax(values)
    return bool(low >= -UNUSABLE_MAGNITUDE) and bool(high <= UNUSABLE_MAGNITUDE)


def unusable(values: torch.Tensor | np.ndarray):
    """Mask of values that are NaN, infinite or beyond ``UNUSABLE_MAGNITUDE``."""
    if isinstance(values, np.ndarray):
        return ~np.isfinite(values) | (np.abs(values) > UNUSABLE_MAGNITUDE)
    return ~torch.isfinite(values) | (values.abs() > UNUSABLE_MAGNITUDE)


def scan_values(path: str | Path) -> dict[str, tuple[int, int, int] | None]:
    """Every field of a file checked for unusable values: ``{field: (count, first sample, first frame)}``
    or ``{field: None}`` when all values are fine. Reads one trajectory at a time."""
    report: dict[str, tuple[int, int, int] | None] = {}
    with h5py.File(_check_file(path), "r") as f:
        for channel in file_channels(f):
            if channel.field in report:
                continue
            dataset, count, first = f[channel.group][channel.field], 0, None
            for sample in range(dataset.shape[0]):
                bad = unusable(dataset[sample])
                if bad.any():
                    count += int(bad.sum())
                    if first is None:
                        first = (sample, int(np.argwhere(bad)[0][0]))
            report[channel.field] = None if first is None else (count, *first)
    return report


class _LazyHDF5Array(xr.backends.BackendArray):
    """One HDF5 dataset, read on indexing (the file is opened per read, so nothing stays open)."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        with h5py.File(path, "r") as f:
            self.shape, self.dtype = f[name].shape, f[name].dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key):
        with h5py.File(self.path, "r") as f:
            return f[self.name][key]


def open(path: str | Path) -> xr.Dataset:
    """A generated file as an ``xarray.Dataset``; fields are read lazily.

    Dims ``sample, time, x[, y]`` (and ``component`` for vector fields, last, as in
    the file). Variables: every field (``u``, ``vorticity``, ``velocity`` ...),
    ``caption``, ``seed``, the per-sample ``length`` where it varies and the per-sample
    physical parameters of a recipe with ``varying`` ones (``nu``, ``forcing``, ...).
    Coordinates ``time`` and ``x``[, ``y``] (2D ``(sample, time)`` / ``(sample, x)``
    when they vary per sample). Attributes: the equation's parameters, ``recipe``
    (JSON), ``seed``, ``split``, ``statistics`` and the rest of the root attributes.
    """
    path = _check_file(path)
    recipe = file_recipe(path)
    with h5py.File(path, "r") as f:
        dims = list(SPATIAL_DIMS[: recipe.ndim])
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
        coords = {}
        time = f["dimensions/time"]
        coords["time"] = (("sample", "time") if time.ndim == 2 else ("time",), time[()])
        for dim in dims:
            values = f["dimensions"][dim]
            coords[dim] = (("sample", dim) if values.ndim == 2 else (dim,), values[()])
        variables = {
            "caption": (("sample",), f["pdeop/caption"].asstr()[()].astype(object)),
            "seed": (("sample",), f["pdeop/seed"][()]),
        }
        length = f["scalars/length"]
        if length.ndim:
            variables["length"] = (("sample",), length[()])
        for name, column in read_parameters(f).items():
            variables.setdefault(name, (("sample",), column))
        fields = {}
        for channel in file_channels(f):
            dataset = f[channel.group][channel.field]
            field_attrs = {k: v for k, v in dataset.attrs.items() if not k.endswith("_varying")}
            vector = ("component",) if channel.component is not None else ()
            fields[channel.field] = (
                f"{channel.group}/{channel.field}",
                ("sample", "time", *dims, *vector),
                field_attrs,
            )
            if vector:
                coords["component"] = list(SPATIAL_DIMS[: dataset.shape[-1]])
    for name, (location, field_dims, field_attrs) in fields.items():
        lazy = indexing.LazilyIndexedArray(_LazyHDF5Array(path, location))
        variables[name] = xr.Variable(field_dims, lazy, attrs=field_attrs)
    coords["sample"] = np.arange(attrs["n_trajectories"])
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


class FileData(torch.utils.data.Dataset):
    """What every file-backed dataset shares: the split, the channels, statistics and a per-process handle.

    Attributes:
        path, recipe: the file and the recipe it was generated from.
        samples: trajectory indices of the split. frames: stored frames per trajectory.
        channel_list: the ``pde_data.fields.Channel`` s; ``channels`` their number.
        grid_shape: points per axis. times: ``(frames,)`` or ``(samples_in_file, frames)``.
    """

    def __init__(self, path: str | Path, split: str | None = None):
        self.path = _check_file(path)
        self.recipe = file_recipe(self.path)
        with h5py.File(self.path, "r") as f:
            self.channel_list: list[Channel] = file_channels(f)
            first = f[self.channel_list[0].group][self.channel_list[0].field]
            n_samples, self.frames = first.shape[:2]
            self.grid_shape = tuple(first.shape[2 : 2 + self.recipe.ndim])
            self._statistics = self._read_statistics(f)
            self.times = f["dimensions/time"][()]
            lengths = f["scalars/length"][()]
            self.file_split = str(f.attrs.get("split", "train"))
        self.lengths = np.broadcast_to(lengths, (n_samples,))
        self.samples = split_samples(n_samples, self.file_split, split, self.path)
        self.split = split
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _read_statistics(self, f: h5py.File) -> dict[str, torch.Tensor]:
        values = {"mean": [], "std": []}
        for channel in self.channel_list:
            attrs = f[channel.group][channel.field].attrs
            if "mean" not in attrs or "std" not in attrs:
                raise InputError(
                    f"{self.path}: field {channel.field} has no mean/std attributes (not written by pdeop)"
                )
            for key in values:
                value = np.asarray(attrs[key], dtype=np.float64)
                values[key].append(float(value if channel.component is None else value[channel.component]))
        return {key: torch.tensor(v, dtype=torch.float32) for key, v in values.items()}

    @property
    def description(self) -> dict:
        """What the data is: ``name`` (the recipe's), ``equation``, ``coefficients``, ``length`` (the domain side)."""
        return self.recipe.summary

    def identity(self) -> dict:
        """What identifies the file's content (``pde_data.storage.file_identity``)."""
        return file_identity(self.path)

    # --- the trajectory-source interface (pde_data.sources) ------------------------------------
    #: pdeop generated it: its recipe, solver and per-trajectory parameters are known
    generated = True

    @property
    def constant_names(self) -> list[str]:
        """pdeop files hold no fields constant in time."""
        return []

    @property
    def trajectory_indices(self) -> list[int]:
        """The split's trajectories, by their index in the file."""
        return list(self.samples)

    def trajectory(self, index: int) -> torch.Tensor:
        """Trajectory ``index`` (of the file), every stored frame: ``(time, channels, *grid)``, checked finite."""
        return self.read(index)

    def constants(self, index: int) -> None:
        return None

    def coordinates(self, index: int) -> np.ndarray:
        """The first axis' coordinates of trajectory ``index`` (per-sample when the lengths differ)."""
        with h5py.File(self.path, "r") as f:
            values = f["dimensions/x"][()]
        return values[index] if values.ndim == 2 else values

    def summary(self, captions: int = 2) -> str:
        """What ``pdeop info`` prints."""
        from pde_data.summary import dataset_summary

        return dataset_summary(self.path, captions)

    @property
    def channels(self) -> int:
        return len(self.channel_list)

    @property
    def channel_names(self) -> list[str]:
        return [channel.name for channel in self.channel_list]

    @property
    def statistics(self) -> dict[str, torch.Tensor]:
        """Per-channel ``mean`` and ``std`` ``(channels,)`` of the whole file."""
        return {key: value.clone() for key, value in self._statistics.items()}

    def frame_times(self, sample: int) -> np.ndarray:
        return self.times[sample] if self.times.ndim == 2 else self.times

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def read(self, sample: int, frames=slice(None)) -> torch.Tensor:
        """Frames of one trajectory as channels ``(time, channels, *grid)``, float32.

        Raises InputError naming the sample and frame when a value is not finite (or too
        large for float32 arithmetic): corrupted data must not look like a bad learning rate.
        """
        values = torch.from_numpy(read_channels(self._handle(), self.channel_list, sample, frames))
        if not all_usable(values):
            bad = unusable(values).flatten(1).any(dim=1)
            index = range(self.frames)[frames] if isinstance(frames, slice) else list(frames)
            frame = index[int(bad.nonzero()[0])]
            raise InputError(
                f"{self.path} contains non-finite values (sample {sample}, frame {frame}); "
                "regenerate the file or leave that trajectory out"
            )
        return values

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None  # each worker opens its own handle
        return state

    def __del__(self):
        if getattr(self, "_file", None) is not None:
            try:
                self._file.close()
            except Exception:
                pass


class TrajectoryDataset(FileData):
    """The ``window`` mode: ``history`` frames in and ``horizon`` frames out.

    Item ``i`` is a dict with ``input`` ``(history, channels, *grid)``, ``target``
    ``(horizon, channels, *grid)`` (float32), ``sample`` (trajectory index) and
    ``start`` (first frame index). Frames are ``stride`` stored frames apart; the
    windows of each trajectory start at every frame that leaves room.

    Args:
        path: a file written by ``pde_data.generate``.
        history: frames in (a positive integer).
        horizon: frames out (a positive integer).
        stride: stored frames between consecutive window frames (a positive integer).
        split: ``None`` (all trajectories) or ``"train"`` / ``"valid"`` / ``"test"``
            (see the module docstring for what a split means).
        normalize: standardise frames with the file's per-channel mean and std.
        first_frame: windows start at this stored frame or later (1 skips the initial
            condition: the FNO paper's files start at t = 1, ours at t = 0).

    The HDF5 file is opened lazily, once per process, so the dataset works with
    multi-worker ``DataLoader``s.
    """

    mode = "window"

    def __init__(
        self,
        path: str | Path,
        history: int = 1,
        horizon: int = 1,
        stride: int = 1,
        split: str | None = None,
        normalize: bool = False,
        first_frame: int = 0,
    ):
        for name, value in (("history", history), ("horizon", horizon), ("stride", stride)):
            _positive(name, value)
        if isinstance(first_frame, bool) or not isinstance(first_frame, int) or first_frame < 0:
            raise InputError(f"first_frame must be an integer >= 0, got {first_frame!r}")
        super().__init__(path, split)
        self.history, self.horizon, self.stride, self.normalize = history, horizon, stride, normalize
        self.first_frame = first_frame
        span = (history + horizon - 1) * stride + 1
        if span > self.frames - first_frame:
            raise InputError(
                f"a window of {history} + {horizon} frames with stride {stride} spans {span} frames, "
                f"but the trajectories have {self.frames}"
                + (f" ({self.frames - first_frame} from frame {first_frame})" if first_frame else "")
            )
        self.windows_per_sample = self.frames - first_frame - span + 1
        #: time between consecutive frames of a window (None when it varies per sample)
        frame_dt = np.diff(self.times, axis=-1) * stride
        self.frame_dt = float(frame_dt.flat[0]) if np.allclose(frame_dt, frame_dt.flat[0]) else None

    def __len__(self) -> int:
        return len(self.samples) * self.windows_per_sample

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        index %= len(self)
        sample = self.samples[index // self.windows_per_sample]
        start = self.first_frame + index % self.windows_per_sample
        stop = start + (self.history + self.horizon - 1) * self.stride + 1
        frames = self.read(sample, slice(start, stop, self.stride))
        if self.normalize:
            shape = (1, -1, *(1,) * len(self.grid_shape))
            frames = (frames - self._statistics["mean"].reshape(shape)) / self._statistics["std"].reshape(shape)
        return {"input": frames[: self.history], "target": frames[self.history :], "sample": sample, "start": start}


class FullTrajectoryDataset(FileData):
    """The ``trajectory`` mode: one whole trajectory per item.

    Item ``i`` is a dict with ``fields`` ``(frames, channels, *grid)`` (float32),
    ``time`` ``(frames,)`` (float64, the trajectory's own times), ``caption`` (str),
    ``coefficients`` (``{name: float}``), ``length`` (the domain side, float) and
    ``sample`` (trajectory index).

    Args:
        path: a file written by ``pde_data.generate``.
        split: as for ``TrajectoryDataset``.
        frames: indices of the stored frames to return (default all), e.g. ``[0, -1]``.
    """

    mode = "trajectory"

    def __init__(self, path: str | Path, split: str | None = None, frames: Sequence[int] | None = None):
        super().__init__(path, split)
        with h5py.File(self.path, "r") as f:
            self.captions = f["pdeop/caption"].asstr()[()]
            self.parameters = read_parameters(f)  # {name: (n,)}, empty unless parameters vary per sample
        self.coefficients = {name: float(value) for name, value in self.recipe.coefficients.items()}
        if frames is None:
            self.frame_indices = list(range(self.frames))
        else:
            bad = [i for i in frames if not -self.frames <= int(i) < self.frames]
            if bad:
                raise InputError(f"frame {bad[0]} is out of range: the trajectories in {self.path} have {self.frames}")
            self.frame_indices = sorted({int(i) % self.frames for i in frames})

    def __len__(self) -> int:
        return len(self.samples)

    def sample_parameters(self, sample: int) -> dict:
        """Trajectory ``sample``'s varying parameters (numbers and category names; ``{}`` if none vary)."""
        return {k: (str(v[sample]) if v.dtype == object else v[sample].item()) for k, v in self.parameters.items()}

    def sample_coefficients(self, sample: int) -> dict[str, float]:
        """The equation coefficients that vary per trajectory, at ``sample``."""
        return {k: float(v) for k, v in self.sample_parameters(sample).items() if k in self.recipe.coefficients_varying}

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} trajectories")
        sample = self.samples[index]
        return {
            "fields": self.read(sample, self.frame_indices),
            "time": torch.from_numpy(np.asarray(self.frame_times(sample)[self.frame_indices], dtype=np.float64)),
            "caption": str(self.captions[sample]),
            "coefficients": {**self.coefficients, **self.sample_coefficients(sample)},
            "parameters": self.sample_parameters(sample),
            "length": float(self.lengths[sample]),
            "sample": sample,
        }


__all__ = [
    "EmptySplitError",
    "FileData",
    "FullTrajectoryDataset",
    "TrajectoryDataset",
    "open",
    "scan_values",
    "split_samples",
    "unusable",
]
