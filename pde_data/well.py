"""The Well's datasets read directly, without conversion: one Well HDF5 file, or a Well dataset
directory (``data/{train,valid,test}/*.hdf5``, ``stats.yaml`` beside ``data``), as windows of channels.

Fields follow The Well's layout: ``t0_fields`` (scalars), ``t1_fields`` (vectors, a trailing axis of
``ndim`` components) and ``t2_fields`` (tensors, ``ndim x ndim`` trailing axes), each dataset
flagged ``time_varying``, ``sample_varying`` and ``dim_varying`` (per spatial axis). They become
channels in The Well's order (every t0 field, then t1, then t2; components flattened row-major),
the order ``the_well.WellDataset`` uses. A flag that is false is broadcast: a field constant over
samples is read once; one constant in space along an axis is repeated along it. Fields that do
not vary in time are not part of the state: they come as ``constant`` inputs ``(C_const, *grid)``.

Windows are numbered file by file, trajectory by trajectory, start by start (as ``WellDataset``
numbers them); an item reads only its window from the file (opened per worker process, so a
``DataLoader`` with workers never shares a handle and nothing is cached beyond the handle).

Statistics: per channel ``mean`` and ``std`` from ``stats.yaml`` when the dataset has one (its
per-field values, vectors per component), else from the fields' ``mean`` / ``std`` attributes of a single
file that has them (pdeop's converters write them), otherwise computed over the split's trajectories one at
a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from pde_data.loading import all_usable, unusable
from pde_data.storage import open_hdf5
from solvers.errors import InputError, MissingFileError

ORDERS = ("t0_fields", "t1_fields", "t2_fields")
SPLITS = ("train", "valid", "test")
SUFFIXES = (".hdf5", ".h5")


@dataclass(frozen=True)
class WellField:
    """One stored field: its tensor order (0, 1, 2) and which axes it varies along."""

    name: str
    order: int
    time_varying: bool
    sample_varying: bool
    dim_varying: tuple[bool, ...]

    def components(self, ndim: int) -> int:
        return ndim**self.order

    def channel_names(self, ndim: int, axes: tuple[str, ...]) -> list[str]:
        if self.order == 0:
            return [self.name]
        if self.order == 1:
            return [f"{self.name}_{a}" for a in axes[:ndim]]
        return [f"{self.name}_{a}{b}" for a in axes[:ndim] for b in axes[:ndim]]


@dataclass(frozen=True)
class WellFile:
    """What one Well file holds (read once; no handle kept)."""

    path: Path
    trajectories: int
    steps: int
    grid: tuple[int, ...]
    axes: tuple[str, ...]
    fields: tuple[WellField, ...]
    periodic: tuple[bool, ...]
    name: str = ""
    #: the ``split`` root attribute (pdeop's converters write it); ``train`` when absent
    split: str = "train"
    #: time between stored steps (None when it is not uniform or differs between trajectories)
    step_dt: float | None = None
    #: the numeric simulation parameters shared by every trajectory
    coefficients: tuple[tuple[str, float], ...] = ()
    #: the domain's extent per axis (periodic: points x spacing; otherwise last minus first coordinate)
    lengths: tuple[float, ...] = ()

    @classmethod
    def read(cls, path: Path) -> WellFile:
        try:
            with open_hdf5(path, "Well file") as f:
                return cls._from_handle(path, f)
        except KeyError as error:
            raise InputError(f"{path} is not in The Well's layout: it lacks {error}") from error

    @classmethod
    def _from_handle(cls, path: Path, f: h5py.File) -> WellFile:
        ndim = int(f.attrs["n_spatial_dims"])
        axes = tuple(str(a) for a in f["dimensions"].attrs["spatial_dims"])
        fields = []
        for order, group in enumerate(ORDERS):
            if group not in f:
                continue
            for name in f[group].attrs.get("field_names", []):
                if name not in f[group]:
                    raise InputError(
                        f"{path} is not in The Well's layout: {group} lists {name!r} but holds no such dataset"
                    )
                dataset = f[group][name]
                flags = dataset.attrs
                dim_varying = tuple(bool(v) for v in np.atleast_1d(flags.get("dim_varying", [True] * ndim)))
                fields.append(
                    WellField(str(name), order, bool(flags["time_varying"]), bool(flags["sample_varying"]), dim_varying)
                )
        if not fields:
            raise InputError(f"{path} holds no fields (t0_fields, t1_fields and t2_fields are empty)")
        grid = tuple(int(f["dimensions"][a].shape[-1]) for a in axes)
        time = f["dimensions"]["time"]
        periodic = tuple(_is_periodic(f, a) for a in axes)
        lengths = tuple(_extent(f["dimensions"][a][()], p) for a, p in zip(axes, periodic, strict=True))
        return cls(
            path,
            int(f.attrs["n_trajectories"]),
            int(time.shape[-1]),
            grid,
            axes,
            tuple(fields),
            periodic,
            name=str(f.attrs.get("dataset_name", path.stem)),
            split=_file_split(path, f),
            step_dt=_uniform_step(time[()]),
            coefficients=_shared_parameters(f),
            lengths=lengths,
        )

    @property
    def ndim(self) -> int:
        return len(self.grid)

    def variable_fields(self) -> list[WellField]:
        return [field for field in self.fields if field.time_varying]

    def constant_fields(self) -> list[WellField]:
        return [field for field in self.fields if not field.time_varying]


def _file_split(path: Path, f: h5py.File) -> str:
    """The split a file holds: its ``split`` attribute, else the Well folder it sits in, else ``train``."""
    if "split" in f.attrs:
        return str(f.attrs["split"])
    folder = Path(path).resolve().parent
    return folder.name if folder.name in SPLITS and folder.parent.name == "data" else "train"


def _uniform_step(times: np.ndarray) -> float | None:
    if times.shape[-1] < 2:
        return None
    steps = np.diff(np.atleast_2d(times), axis=-1)
    return float(steps.flat[0]) if np.allclose(steps, steps.flat[0], rtol=1e-6) else None


def _extent(coordinates: np.ndarray, periodic: bool) -> float:
    values = np.atleast_2d(coordinates)[0]
    if values.size < 2:
        return 1.0
    return float((values[1] - values[0]) * values.size if periodic else values[-1] - values[0])


def _shared_parameters(f: h5py.File) -> tuple[tuple[str, float], ...]:
    """Simulation parameters with one numeric value for the whole file (root attributes or ``/scalars``)."""
    out = []
    for name in (str(n) for n in np.atleast_1d(f.attrs.get("simulation_parameters", []))):
        dataset = f.get(f"scalars/{name}")
        if dataset is not None and not bool(dataset.attrs.get("sample_varying", False)) and dataset.size == 1:
            value = dataset[()]
        elif name in f.attrs and np.size(f.attrs[name]) == 1:
            value = f.attrs[name]
        else:
            continue
        if np.issubdtype(np.asarray(value).dtype, np.number):
            out.append((name, float(np.asarray(value).ravel()[0])))
    return tuple(out)


def _is_periodic(f: h5py.File, axis: str) -> bool:
    group = f.get("boundary_conditions")
    if group is None:
        return False
    for name in group:
        bc = group[name]
        associated = np.atleast_1d(bc.attrs.get("associated_dims", []))
        if axis in [str(a) for a in associated] and str(bc.attrs.get("bc_type", "")).upper() == "PERIODIC":
            return True
    return False


def is_well_source(path: str | Path) -> bool:
    """Whether ``path`` is a Well dataset directory, or an HDF5 file in The Well's layout that pdeop did not write."""
    path = Path(path)
    if path.is_dir():
        return any((path / folder / split).is_dir() for folder in ("data", ".") for split in SPLITS)
    try:
        with h5py.File(path, "r") as f:
            return "recipe" not in f.attrs and "n_spatial_dims" in f.attrs and "t0_fields" in f
    except OSError:
        return False


def well_files(path: str | Path, split: str | None) -> list[Path]:
    """The files of ``split`` in a Well dataset directory, or the one file ``path``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError(f"no Well file or dataset directory at {path}")
    if split is None:
        raise InputError(f"{path} is a Well dataset directory: name a split (train, valid or test)")
    for folder in (path / "data" / split, path / split):
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)
            if files:
                return files
    raise MissingFileError(f"{path} has no {split} split (looked for data/{split}/*.hdf5 and {split}/*.hdf5)")


def _read_field(f: h5py.File, field: WellField, sample: int, times: slice | None, grid: tuple[int, ...]) -> np.ndarray:
    """One field's values for ``sample`` (and ``times``), broadcast to ``([time,] *grid, components)``."""
    dataset = f[ORDERS[field.order]][field.name]
    index: tuple = ()
    if field.sample_varying:
        index += (sample,)
    if field.time_varying:
        index += (times,)
    values = np.asarray(dataset[index] if index else dataset[()])
    ndim = len(grid)
    tail = values.shape[values.ndim - field.order :] if field.order else ()
    if values.ndim - field.order - int(field.time_varying) == ndim:  # every axis kept (size 1 where constant)
        spatial = values.shape[values.ndim - field.order - ndim : values.ndim - field.order]
    else:  # the constant axes were left out
        stored = iter(values.shape[values.ndim - field.order - sum(field.dim_varying) : values.ndim - field.order])
        spatial = tuple(next(stored) if varying else 1 for varying in field.dim_varying)
    shape = list(values.shape[: int(field.time_varying)])
    values = values.reshape(*shape, *spatial, *tail)
    values = np.broadcast_to(values, (*shape, *grid, *tail))
    return values.reshape(*shape, *grid, -1)  # components flattened row-major (1 for scalars)


class WellWindows(Dataset):
    """Windows of a Well dataset: ``history`` states in, ``horizon`` out, ``stride`` stored steps apart.

    Args:
        path: a Well file, or a dataset directory (then ``split`` picks ``data/<split>/``).
        split: for a directory, ``train``, ``valid`` or ``test`` (its folder). For a single file, pdeop's rule
            (``pde_data.loading.split_samples``): a file whose ``split`` attribute is ``valid`` or ``test`` is
            that split; otherwise its trajectories divide 80 / 10 / 10 % into train / valid / test. ``None``:
            every trajectory.
        history: frames in.
        horizon: frames out.
        stride: stored frames between consecutive window frames.
        first_frame: windows start at this stored step or later.

    Items: ``input`` ``(history, C, *grid)``, ``target`` ``(horizon, C, *grid)`` (time-varying fields as
    channels, float32, physical units), ``constant`` ``(C_const, *grid)`` (empty without constant
    fields), ``file``, ``sample`` and ``start`` (indices of the window's first step).
    """

    mode = "window"

    def __init__(
        self,
        path: str | Path,
        split: str | None = "train",
        history: int = 1,
        horizon: int = 1,
        stride: int = 1,
        first_frame: int = 0,
    ):
        for name, value in (("history", history), ("horizon", horizon), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(first_frame, bool) or not isinstance(first_frame, int) or first_frame < 0:
            raise InputError(f"first_frame must be an integer >= 0, got {first_frame!r}")
        self.path, self.split = Path(path), split
        self.files = [WellFile.read(p) for p in well_files(path, split if self.path.is_dir() else None)]
        first = self.files[0]
        for other in self.files[1:]:
            if (other.grid, other.fields) != (first.grid, first.fields):
                raise InputError(f"{other.path} does not hold the fields and grid of {first.path}")
        if not first.variable_fields():
            raise InputError(f"{first.path} has no time-varying field to predict")
        self.history, self.horizon, self.stride, self.first_frame = history, horizon, stride, first_frame
        #: ``(file, trajectory)`` of every trajectory of the split, in order
        self.samples = self._split_samples(split)
        span = (history + horizon - 1) * stride + 1
        self.windows_per_trajectory = [max(0, f.steps - first_frame - span + 1) for f in self.files]
        if not any(self.windows_per_trajectory):
            raise InputError(
                f"a window of {history} + {horizon} steps with stride {stride} spans {span} steps, "
                f"but the trajectories have {first.steps}"
                + (f" ({first.steps - first_frame} from step {first_frame})" if first_frame else "")
            )
        self.offsets = np.cumsum([0, *(self.windows_per_trajectory[file] for file, _ in self.samples)])
        self.grid_shape = first.grid
        ndim = first.ndim
        self.channel_names = [n for field in first.variable_fields() for n in field.channel_names(ndim, first.axes)]
        self.constant_names = [n for field in first.constant_fields() for n in field.channel_names(ndim, first.axes)]
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()
        self._statistics: dict[str, torch.Tensor] | None = None
        self.frame_dt = first.step_dt * stride if first.step_dt is not None else None

    def _split_samples(self, split: str | None) -> list[tuple[int, int]]:
        if self.path.is_dir():
            return [(file, t) for file, info in enumerate(self.files) for t in range(info.trajectories)]
        from pde_data.loading import split_samples

        info = self.files[0]
        return [(0, t) for t in split_samples(info.trajectories, info.split, split, self.path)]

    @property
    def frames(self) -> int:
        """Stored steps per trajectory."""
        return self.files[0].steps

    @property
    def description(self) -> dict:
        """What the data is: ``name``, ``equation`` (The Well's dataset name), ``coefficients`` (the
        parameters shared by every trajectory), ``length`` (the domain's extent along the first axis)."""
        info = self.files[0]
        return {
            "name": info.name,
            "equation": info.name,
            "coefficients": dict(info.coefficients),
            "length": info.lengths[0],
            "source": str(self.path),
        }

    def identity(self) -> dict:
        """What identifies the data (recorded in checkpoints so that a resume on other data is refused)."""
        files = [{"name": f.path.name, "bytes": f.path.stat().st_size} for f in self.files]
        return {"path": str(self.path.resolve()), "dataset": self.files[0].name, "split": self.split, "files": files}

    def field_channels(self) -> dict[str, list[int]]:
        """Channel indices of each time-varying field (a vector's components together)."""
        out, index, info = {}, 0, self.files[0]
        for field in info.variable_fields():
            count = field.components(info.ndim)
            out[field.name] = list(range(index, index + count))
            index += count
        return out

    # --- the trajectory-source interface (pde_data.sources) ------------------------------------
    #: not generated by pdeop: no recipe, solver or per-trajectory parameters
    generated = False

    @property
    def trajectory_indices(self) -> list[int]:
        """The split's trajectories, counted file after file."""
        return list(range(len(self.samples)))

    def summary(self, captions: int = 2) -> str:
        """What ``pdeop info`` prints (``captions``: The Well's files have none)."""
        from pde_data.summary import well_summary

        return well_summary(self.path)

    def trajectory(self, index: int) -> torch.Tensor:
        """Trajectory ``index`` of the split, every stored step: ``(time, C, *grid)``."""
        file, trajectory = self.samples[index]
        return self.read_fields(file, trajectory, slice(None))[0]

    def coordinates(self, index: int) -> np.ndarray:
        """The first axis' coordinates of trajectory ``index`` of the split."""
        file, trajectory = self.samples[index]
        with h5py.File(self.files[file].path, "r") as f:
            values = f["dimensions"][self.files[file].axes[0]][()]
        return values[trajectory] if values.ndim == 2 else values

    @property
    def channels(self) -> int:
        return len(self.channel_names)

    @property
    def periodic(self) -> tuple[bool, ...]:
        return self.files[0].periodic

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _handle(self, index: int) -> h5py.File:
        if self._pid != os.getpid():  # a DataLoader worker: open its own handles
            self._handles, self._pid = {}, os.getpid()
        if index not in self._handles:
            self._handles[index] = h5py.File(self.files[index].path, "r")
        return self._handles[index]

    def locate(self, index: int) -> tuple[int, int, int]:
        """``(file, trajectory, start)`` of window ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        index %= len(self)
        position = int(np.searchsorted(self.offsets, index, side="right") - 1)
        file, trajectory = self.samples[position]
        return file, trajectory, self.first_frame + index - int(self.offsets[position])

    def read_fields(self, file: int, trajectory: int, times: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Variable fields at ``times`` ``(time, C, *grid)`` and constant fields ``(C_const, *grid)``."""
        f, info = self._handle(file), self.files[file]
        variable = [_read_field(f, field, trajectory, times, info.grid) for field in info.variable_fields()]
        constant = [_read_field(f, field, trajectory, None, info.grid) for field in info.constant_fields()]
        states = torch.from_numpy(np.moveaxis(np.concatenate(variable, axis=-1).astype(np.float32), -1, 1).copy())
        if constant:
            stacked = np.concatenate(constant, axis=-1).astype(np.float32)
            constants = torch.from_numpy(np.moveaxis(stacked, -1, 0).copy())
        else:
            constants = torch.zeros(0, *info.grid)
        # corrupted data must not look like a bad learning rate (as pdeop's own files, FileData.read)
        if not (all_usable(states) and all_usable(constants)):
            bad = unusable(states).flatten(1).any(dim=1)
            where = (
                f"frame {range(info.steps)[times][int(bad.nonzero()[0])]}" if bool(bad.any()) else "a constant field"
            )
            raise InputError(
                f"{info.path} contains non-finite values (trajectory {trajectory}, {where}); leave that trajectory out"
            )
        return states, constants

    def constants(self, index: int) -> torch.Tensor:
        """The constant fields of trajectory ``index`` of the split: ``(C_const, *grid)``."""
        file, trajectory = self.samples[index]
        return self.read_fields(file, trajectory, slice(0, 1))[1]

    @property
    def constant_statistics(self) -> dict[str, torch.Tensor]:
        """Per-channel ``mean`` and ``std`` ``(C_const,)`` of the constant fields over the split's trajectories."""
        if not self.constant_names:
            return {"mean": torch.zeros(0), "std": torch.ones(0)}
        values = torch.stack([self.constants(i).double().flatten(1) for i in range(len(self.samples))], dim=1)
        values = values.flatten(1)  # (C_const, trajectories * points)
        return {"mean": values.mean(1).float(), "std": values.std(1, correction=0).clamp_min(1e-12).float()}

    @property
    def statistics(self) -> dict[str, torch.Tensor]:
        """Per-channel ``mean`` and ``std`` ``(C,)`` of the time-varying fields: from the dataset's
        ``stats.yaml`` when it has one for every field, else computed over this split's files."""
        if self._statistics is None:
            self._statistics = self.stored_statistics() or self._computed_statistics()
        return {key: value.clone() for key, value in self._statistics.items()}

    def stored_statistics(self) -> dict[str, torch.Tensor] | None:
        """The statistics the data carries (``stats.yaml``, or the fields' attributes), None when it has none."""
        return self._stats_file() or self._field_attributes()

    def _stats_file(self) -> dict[str, torch.Tensor] | None:
        candidates = (
            [self.path / "stats.yaml"] if self.path.is_dir() else [self.path.parent.parent.parent / "stats.yaml"]
        )
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            return None
        import yaml

        stats = yaml.safe_load(found.read_text()) or {}
        fields = self.files[0].variable_fields()
        try:
            values = {
                key: [np.ravel(np.asarray(stats[key][field.name], dtype=np.float64)) for field in fields]
                for key in ("mean", "std")
            }
        except (KeyError, TypeError):
            return None
        ndim = self.files[0].ndim
        if any(len(v) != field.components(ndim) for v, field in zip(values["mean"], fields, strict=True)):
            return None
        return {key: torch.from_numpy(np.concatenate(v)).float() for key, v in values.items()}

    def _field_attributes(self) -> dict[str, torch.Tensor] | None:
        """``mean`` and ``std`` attributes on every time-varying field (pdeop's converters write them)."""
        if len(self.files) > 1:  # the attributes describe one file
            return None
        info = self.files[0]
        values = {"mean": [], "std": []}
        with h5py.File(info.path, "r") as f:
            for field in info.variable_fields():
                attrs = f[ORDERS[field.order]][field.name].attrs
                if "mean" not in attrs or "std" not in attrs:
                    return None
                for key in values:
                    value = np.ravel(np.asarray(attrs[key], dtype=np.float64))
                    if value.size != field.components(info.ndim):
                        return None
                    values[key].append(value)
        mean, std = (torch.from_numpy(np.concatenate(values[key])).float() for key in ("mean", "std"))
        return {"mean": mean, "std": std.clamp_min(1e-12)}

    def _computed_statistics(self) -> dict[str, torch.Tensor]:
        total = count = square = 0.0
        for file, trajectory in self.samples:
            states = self.read_fields(file, trajectory, slice(None))[0].double()  # (time, C, *grid)
            values = states.transpose(0, 1).flatten(1)
            total = total + values.sum(1)
            square = square + values.square().sum(1)
            count += values.shape[1]
        mean = total / count
        std = (square / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-12)
        return {"mean": mean.float(), "std": std.float()}

    def __getitem__(self, index: int) -> dict:
        file, trajectory, start = self.locate(index)
        stop = start + (self.history + self.horizon - 1) * self.stride + 1
        states, constants = self.read_fields(file, trajectory, slice(start, stop, self.stride))
        return {
            "input": states[: self.history],
            "target": states[self.history :],
            "constant": constants,
            "file": file,
            "sample": trajectory,
            "start": start,
        }

    def close(self) -> None:
        """Close this process's file handles (reopened on the next read)."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"] = {}  # handles do not travel to worker processes
        return state
