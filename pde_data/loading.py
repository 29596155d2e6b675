"""Reading generated datasets: ``open`` (a lazy ``xarray.Dataset``) and ``TrajectoryDataset`` (torch windows)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch
import xarray as xr
from xarray.core import indexing

from pde_data.presets import Recipe
from pde_data.storage import SPATIAL_DIMS

SPLIT_FRACTIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset file at {path}")
    try:
        with h5py.File(path, "r") as f:
            if "recipe" not in f.attrs or "t0_fields" not in f:
                raise ValueError(f"{path} is an HDF5 file but not a pdeop dataset (no recipe or t0_fields)")
    except OSError as error:
        raise ValueError(f"{path} is not a readable HDF5 file ({error})") from error
    return path


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
    """A generated file as an ``xarray.Dataset``; the field is read lazily.

    Dims ``sample, time, x[, y]``. Variables: the field (``u`` or ``vorticity``),
    ``caption``, ``seed`` and the per-sample ``length`` where it varies.
    Coordinates ``time`` and ``x``[, ``y``] (2D ``(sample, time)`` / ``(sample, x)``
    when they vary per sample). Attributes: the equation's parameters, ``recipe``
    (JSON), ``seed``, ``split``, ``statistics`` and the rest of the root attributes.
    """
    path = _check_file(path)
    with h5py.File(path, "r") as f:
        recipe = Recipe.from_dict(json.loads(f.attrs["recipe"]))
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
        field_name = recipe.field_name
        field_attrs = {k: v for k, v in f["t0_fields"][field_name].attrs.items() if not k.endswith("_varying")}
    lazy = indexing.LazilyIndexedArray(_LazyHDF5Array(path, f"t0_fields/{field_name}"))
    variables[field_name] = xr.Variable(("sample", "time", *dims), lazy, attrs=field_attrs)
    coords["sample"] = np.arange(attrs["n_trajectories"])
    return xr.Dataset(variables, coords=coords, attrs=attrs)


class TrajectoryDataset(torch.utils.data.Dataset):
    """Windows of ``history`` frames in and ``horizon`` frames out, for training.

    Item ``i`` is a dict with ``input`` ``(history, channels, *grid)``, ``target``
    ``(horizon, channels, *grid)`` (float32), ``sample`` (trajectory index) and
    ``start`` (first frame index). Frames are ``stride`` stored frames apart; the
    windows of each trajectory start at every frame that leaves room.

    Args:
        path: a file written by ``pde_data.generate``.
        history, horizon, stride: window shape (positive integers).
        split: ``None`` (all trajectories) or ``"train"`` / ``"valid"`` / ``"test"``:
            the first 80 %, next 10 % or last 10 % of the trajectories.
        normalize: standardise frames with the file's mean and std.

    The HDF5 file is opened lazily, once per process, so the dataset works with
    multi-worker ``DataLoader``s.
    """

    def __init__(
        self,
        path: str | Path,
        history: int = 1,
        horizon: int = 1,
        stride: int = 1,
        split: str | None = None,
        normalize: bool = False,
    ):
        self.path = _check_file(path)
        for name, value in (("history", history), ("horizon", horizon), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if split is not None and split not in SPLIT_FRACTIONS:
            raise ValueError(f"split must be None or one of {', '.join(SPLIT_FRACTIONS)}, got {split!r}")
        self.history, self.horizon, self.stride, self.normalize = history, horizon, stride, normalize
        with h5py.File(self.path, "r") as f:
            self.recipe = Recipe.from_dict(json.loads(f.attrs["recipe"]))
            field = f["t0_fields"][self.recipe.field_name]
            n_samples, self.frames = field.shape[:2]
            self.grid_shape = tuple(field.shape[2:])
            self._mean, self._std = float(field.attrs["mean"]), float(field.attrs["std"])
            time = f["dimensions/time"][()]
        span = (history + horizon - 1) * stride + 1
        if span > self.frames:
            raise ValueError(
                f"a window of {history} + {horizon} frames with stride {stride} spans {span} frames, "
                f"but the trajectories have {self.frames}"
            )
        low, high = SPLIT_FRACTIONS[split] if split else (0.0, 1.0)
        self.samples = list(range(round(low * n_samples), round(high * n_samples)))
        if not self.samples:
            raise ValueError(f"split {split!r} of {n_samples} trajectories is empty; generate more samples")
        self.windows_per_sample = self.frames - span + 1
        #: time between consecutive frames of a window (None when it varies per sample)
        frame_dt = np.diff(time, axis=-1) * stride
        self.frame_dt = float(frame_dt.flat[0]) if np.allclose(frame_dt, frame_dt.flat[0]) else None
        self._file: h5py.File | None = None
        self._pid: int | None = None

    @property
    def channels(self) -> int:
        return 1

    @property
    def statistics(self) -> dict[str, torch.Tensor]:
        """Per-channel ``mean`` and ``std`` ``(channels,)`` of the whole file."""
        return {"mean": torch.tensor([self._mean]), "std": torch.tensor([self._std])}

    def __len__(self) -> int:
        return len(self.samples) * self.windows_per_sample

    def _field(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file["t0_fields"][self.recipe.field_name]

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        index %= len(self)
        sample = self.samples[index // self.windows_per_sample]
        start = index % self.windows_per_sample
        stop = start + (self.history + self.horizon - 1) * self.stride + 1
        frames = torch.from_numpy(self._field()[sample, start : stop : self.stride])[:, None]
        if self.normalize:
            frames = (frames - self._mean) / self._std
        return {
            "input": frames[: self.history],
            "target": frames[self.history :],
            "sample": sample,
            "start": start,
        }

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
