"""Writing datasets in The Well's HDF5 layout, atomically.

Layout (The Well's HDF5 format, as its ``the_well`` package reads it): root attributes ``dataset_name``,
``grid_type``, ``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters``
(each also a root attribute and a ``/scalars/<name>`` dataset); groups
``dimensions`` (``time``, ``x``[, ``y``]), ``boundary_conditions`` (periodic on
every axis), ``scalars``, ``t0_fields`` (scalar fields, float32
``(sample, time, *grid)``), ``t1_fields`` (vector fields ``(sample, time, *grid,
components)``), ``t2_fields``. pdeop adds root attributes ``recipe`` (JSON),
``seed``, ``split``, ``pdeop_version``, ``statistics`` (JSON, per field; lists of
per-component values for vector fields) and a group ``pdeop`` with per-trajectory
``caption``, ``seed`` and ``sample_index``, and, for recipes whose physical parameters vary per
sample, ``pdeop/parameters/<name>`` (numbers, or strings for categories; the numeric ones also
as sample-varying ``/scalars/<name>``). Each field's attributes ``mean``,
``std``, ``rms``, ... hold the same statistics.

A file is written under a temporary name and renamed into place when complete,
so a file at the final path is always whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import h5py
import numpy as np

from pde_data.fields import Channel, to_channels
from pde_data.locks import RunLock, alive
from pde_data.parameters import INTEGER, is_text_parameter, parameter_names
from pde_data.recipes import Recipe
from solvers.errors import InputError, MissingFileError

SPATIAL_DIMS = ("x", "y", "z")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown"


class RunningStatistics:
    """Per-channel mean, std and rms of fields and of their time differences, in float64, in sample order."""

    def __init__(self, channels: int):
        self.sums = np.zeros((channels, 4))  # sum u, sum u^2, sum du, sum du^2
        self.counts = np.zeros((channels, 2))

    def add(self, trajectory: np.ndarray) -> None:
        """One trajectory ``(time, channels, *grid)``."""
        self.add_frames(trajectory[None])

    def add_frames(self, frames: np.ndarray, previous: np.ndarray | None = None) -> None:
        """Consecutive frames ``(samples, time, channels, *grid)`` of several trajectories; ``previous``
        ``(samples, channels, *grid)`` is the frame before them (for the time differences), if any."""
        u = np.moveaxis(frames.astype(np.float64), 2, 0).reshape(frames.shape[2], frames.shape[0], frames.shape[1], -1)
        if previous is not None:
            u_before = np.moveaxis(previous.astype(np.float64), 1, 0).reshape(u.shape[0], u.shape[1], 1, -1)
            du = np.diff(np.concatenate([u_before, u], axis=2), axis=2)
        else:
            du = np.diff(u, axis=2)
        axes = (1, 2, 3)
        self.sums += np.stack([u.sum(axes), (u * u).sum(axes), du.sum(axes), (du * du).sum(axes)], axis=1)
        self.counts += [u[0].size, du[0].size]

    def result(self) -> list[dict[str, float]]:
        """One dict per channel: ``mean, std, rms`` of the values and ``*_delta`` of frame differences."""
        return [self._channel(sums, counts) for sums, counts in zip(self.sums, self.counts)]

    @staticmethod
    def _channel(sums: np.ndarray, counts: np.ndarray) -> dict[str, float]:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, square = sums[0] / counts[0], sums[1] / counts[0]
            mean_delta = sums[2] / counts[1] if counts[1] else 0.0
            square_delta = sums[3] / counts[1] if counts[1] else 0.0
        return {
            "mean": float(mean),
            "std": float(np.sqrt(max(square - mean**2, 0.0))),
            "rms": float(np.sqrt(square)),
            "mean_delta": float(mean_delta),
            "std_delta": float(np.sqrt(max(square_delta - mean_delta**2, 0.0))),
            "rms_delta": float(np.sqrt(square_delta)),
        }


def field_statistics(channels: list[Channel], per_channel: list[dict[str, float]]) -> dict[str, dict]:
    """Per-field statistics: floats for a scalar field, lists over components for a vector field."""
    out: dict[str, dict] = {}
    for channel, stats in zip(channels, per_channel):
        if channel.component is None:
            out[channel.field] = dict(stats)
        else:
            entry = out.setdefault(channel.field, {key: [] for key in stats})
            for key, value in stats.items():
                entry[key].append(value)
    return out


def _string_list(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=h5py.string_dtype())


def _flags(dataset: h5py.Dataset, sample: bool, time: bool, dims: int | None = None) -> None:
    dataset.attrs["sample_varying"] = sample
    dataset.attrs["time_varying"] = time
    if dims is not None:
        dataset.attrs["dim_varying"] = np.ones(dims, dtype=bool)


def _create_layout(
    f: h5py.File, recipe: Recipe, n: int, metadata: dict, frames_per_chunk: int | None = None
) -> dict[str, h5py.Dataset]:
    ndim, frames = recipe.ndim, recipe.frames
    dims = list(SPATIAL_DIMS[:ndim])
    length_varies, time_varies = recipe.length_jitter > 0, recipe.time_jitter > 0
    numeric_varying = [k for k in parameter_names(recipe.varying) if k in recipe.varying and not is_text_parameter(k)]
    parameters = [*sorted(recipe.coefficients), *numeric_varying, "length"]
    f.attrs.update(
        dataset_name=recipe.name,
        grid_type="cartesian",
        n_spatial_dims=ndim,
        n_trajectories=n,
        simulation_parameters=_string_list(parameters),
        recipe=recipe.to_json(),
        pdeop_version=package_version(),
        **{name: float(value) for name, value in recipe.coefficients.items()},
        length=float(recipe.length),
        **metadata,
    )
    dimensions = f.create_group("dimensions")
    dimensions.attrs["spatial_dims"] = _string_list(dims)
    out = {"time": dimensions.create_dataset("time", shape=(n, frames) if time_varies else (frames,), dtype="f8")}
    _flags(out["time"], time_varies, True)
    for dim in dims:
        out[dim] = dimensions.create_dataset(
            dim, shape=(n, recipe.resolution) if length_varies else (recipe.resolution,), dtype="f8"
        )
        _flags(out[dim], length_varies, False)
    boundaries = f.create_group("boundary_conditions")
    for dim in dims:
        group = boundaries.create_group(f"{dim}_periodic")
        group.attrs.update(
            bc_type="PERIODIC",
            associated_dims=_string_list([dim]),
            associated_fields=_string_list([]),
            sample_varying=False,
            time_varying=False,
        )
        mask = np.zeros(recipe.resolution, dtype=bool)
        mask[[0, -1]] = True
        group.create_dataset("mask", data=mask)
        group.create_dataset("values", data=np.zeros(0, dtype="f4"))
    scalars = f.create_group("scalars")
    scalars.attrs["field_names"] = _string_list(parameters)
    for name, value in recipe.coefficients.items():
        _flags(scalars.create_dataset(name, data=float(value)), False, False)
    out["length"] = scalars.create_dataset("length", shape=(n,) if length_varies else (), dtype="f8")
    _flags(out["length"], length_varies, False)
    grid = (recipe.resolution,) * ndim
    components = {c.field: c.component for c in recipe.channels}  # the last component of vectors
    groups = {name: f.create_group(name) for name in ("t0_fields", "t1_fields", "t2_fields")}
    for name in ("t0_fields", "t1_fields", "t2_fields"):
        names = [c.field for c in recipe.channels if c.group == name and c.component in (None, 0)]
        groups[name].attrs["field_names"] = _string_list(names)
    out["fields"] = {}
    for name, last in components.items():
        shape = (n, frames, *grid) if last is None else (n, frames, *grid, last + 1)
        group = groups["t0_fields" if last is None else "t1_fields"]
        chunk = (1, min(frames, frames_per_chunk or frames), *shape[2:])
        out["fields"][name] = group.create_dataset(name, shape=shape, dtype="f4", chunks=chunk)
        _flags(out["fields"][name], True, True, ndim)
    extras = f.create_group("pdeop")
    out["caption"] = extras.create_dataset("caption", shape=(n,), dtype=h5py.string_dtype())
    out["seed"] = extras.create_dataset("seed", shape=(n,), dtype="u8")
    out["sample_index"] = extras.create_dataset("sample_index", shape=(n,), dtype="i8")
    out["parameters"] = {}
    for name in parameter_names(recipe.varying):
        dtype = h5py.string_dtype() if is_text_parameter(name) else "i8" if name in (*INTEGER, "template") else "f8"
        out["parameters"][name] = extras.create_dataset(f"parameters/{name}", shape=(n,), dtype=dtype)
        if name in recipe.varying and not is_text_parameter(name):  # The Well's per-sample scalars
            out["parameters"]["scalars/" + name] = scalars.create_dataset(name, shape=(n,), dtype=dtype)
            _flags(out["parameters"]["scalars/" + name], True, False)
    return out


def check_output_file(path: str | Path, overwrite: bool = False) -> Path:
    """``path`` as a file a command may write, checked before its work so that no long run fails at the end:
    InputError when it is a folder, exists (unless ``overwrite``), or its folder is missing or read-only."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file path such as {path / 'data.h5'}")
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"cannot write {path}: folder {path.parent} is not writable")
    return path


@contextmanager
def exclusive_output(path: str | Path, overwrite: bool = False, activity: str = "writing") -> Iterator[Path]:
    """Hold ``path`` as this command's output for the ``with`` block: checked (``check_output_file``), locked
    against a second pdeop writer (``PATH.lock``, the lock ``pdeop generate`` takes, so that the second is
    refused naming the first), and with the temporaries of dead writers (a ``kill -9`` mid-write) removed.
    Commands write it through ``atomic_output(path, replace=overwrite)`` inside the block."""
    path = check_output_file(path, overwrite)
    with RunLock(path.with_name(path.name + ".lock"), f"{activity} {path}"):
        remove_dead_temporaries(path)
        yield path


def remove_dead_temporaries(path: Path) -> list[Path]:
    """Remove the ``atomic_output`` temporaries of ``path`` whose writing process is gone; the removed paths."""
    removed = []
    for temporary in path.parent.glob(f".{path.name}.tmp-*"):
        pid = temporary.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            with suppress(FileNotFoundError):
                temporary.unlink()
                removed.append(temporary)
    return removed


@contextmanager
def atomic_output(path: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On failure the temporary file is removed, so ``path`` is either the old file
    or the complete new one, never a partial write. ``replace=False``: a file that
    appeared at ``path`` meanwhile (another program wrote it) is kept and an
    InputError raised (an atomic link, so nothing can slip in between the check and the rename).
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise InputError(f"{path} appeared while this command ran; pass --overwrite to replace it") from None
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()


def write_well_file(
    path: Path, recipe: Recipe, n_trajectories: int, blocks: Iterable[dict], metadata: dict, replace: bool = True
) -> Path:
    """Write ``blocks`` (dicts of per-trajectory arrays, in sample order) to one HDF5 file at ``path``.

    Each block holds ``fields`` (``{name: (b, frames, *grid)}`` for scalar fields,
    ``(b, frames, *grid, components)`` for vector fields: every field of ``recipe``),
    ``sample_index (b,)``, ``seed (b,)``, ``length (b,)``, ``time (b, frames)`` and
    ``caption`` (b strings). Written to a temporary file first and renamed, so
    ``path`` never holds a partial file.
    """
    path = Path(path)
    channels = recipe.channels
    statistics = RunningStatistics(len(channels))
    with atomic_output(path, replace) as temporary, h5py.File(temporary, "w") as f:
        out = _create_layout(f, recipe, n_trajectories, metadata)
        position, first = 0, True
        for block in blocks:
            b = len(block["sample_index"])
            rows = slice(position, position + b)
            for trajectory in to_channels(block["fields"], channels):
                statistics.add(trajectory)
            for name, values in block["fields"].items():
                out["fields"][name][rows] = values.astype(np.float32)
            for key in ("caption", "seed", "sample_index"):
                out[key][rows] = block[key]
            _write_parameters(out, block, rows)
            _write_coordinates(out, recipe, block, rows, first)
            position += b
            first = False
        if position != n_trajectories:
            raise RuntimeError(f"expected {n_trajectories} trajectories, got {position}")
        _write_statistics(f, out, channels, statistics)
    return path


def stream_well_file(
    path: Path,
    recipe: Recipe,
    trajectories: dict,
    frame_blocks: Iterable[dict[str, np.ndarray]],
    metadata: dict,
    frames_per_chunk: int = 64,
    replace: bool = True,
) -> Path:
    """Write a file whose frames arrive in time slices of every trajectory at once (long rollouts).

    ``trajectories`` holds the per-trajectory arrays of ``write_well_file``'s blocks
    except ``fields`` (``sample_index``, ``seed``, ``length``, ``time (n, frames)``,
    ``caption``); ``frame_blocks`` yields ``{name: (n, t, *grid[, components])}`` slices
    in time order that together cover ``recipe.frames`` frames. Memory stays at one
    slice; the file appears at ``path`` only when complete (``replace``: as for ``atomic_output``).
    """
    path = Path(path)
    channels = recipe.channels
    n = len(trajectories["sample_index"])
    statistics = RunningStatistics(len(channels))
    with atomic_output(path, replace) as temporary, h5py.File(temporary, "w") as f:
        out = _create_layout(f, recipe, n, metadata, frames_per_chunk)
        for key in ("caption", "seed", "sample_index"):
            out[key][:] = trajectories[key]
        _write_parameters(out, trajectories, slice(0, n))
        _write_coordinates(out, recipe, trajectories, slice(0, n), True)
        position, previous = 0, None
        for block in frame_blocks:
            frames = to_channels(block, channels)
            statistics.add_frames(frames, previous)
            for name, values in block.items():
                out["fields"][name][:, position : position + values.shape[1]] = values.astype(np.float32)
            position += frames.shape[1]
            previous = frames[:, -1]
        if position != recipe.frames:
            raise RuntimeError(f"expected {recipe.frames} frames, got {position}")
        _write_statistics(f, out, channels, statistics)
    return path


def _write_statistics(f: h5py.File, out: dict, channels: list[Channel], statistics: RunningStatistics) -> None:
    stats = field_statistics(channels, statistics.result())
    for name, values in stats.items():
        out["fields"][name].attrs.update(values)
    f.attrs["statistics"] = json.dumps(stats, sort_keys=True)


def _write_parameters(out: dict, block: dict, rows: slice) -> None:
    columns = block.get("parameters", {})
    for name, dataset in out["parameters"].items():
        dataset[rows] = columns[name.removeprefix("scalars/")]


def read_parameters(f: h5py.File, rows: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
    """The per-trajectory varying parameters stored in an open file (``{}`` when none vary)."""
    if "pdeop/parameters" not in f:
        return {}
    group = f["pdeop/parameters"]
    return {
        name: np.array(group[name].asstr()[rows], dtype=object) if group[name].dtype.kind == "O" else group[name][rows]
        for name in group
    }


def _write_coordinates(out: dict, recipe: Recipe, block: dict, rows: slice, first: bool) -> None:
    j = np.arange(recipe.resolution, dtype=np.float64)
    if recipe.length_jitter > 0:
        out["length"][rows] = block["length"]
        for dim in SPATIAL_DIMS[: recipe.ndim]:
            out[dim][rows] = block["length"][:, None] * j / recipe.resolution
    elif first:
        out["length"][()] = float(block["length"][0])
        for dim in SPATIAL_DIMS[: recipe.ndim]:
            out[dim][:] = float(block["length"][0]) * j / recipe.resolution
    if recipe.time_jitter > 0:
        out["time"][rows] = block["time"]
    elif first:
        out["time"][:] = block["time"][0]


def read_blocks(path: Path, rows_per_block: int = 64) -> Iterator[dict]:
    """Per-trajectory arrays of a written file, in blocks (the inverse of ``write_well_file``)."""
    recipe = file_recipe(path)
    with h5py.File(path, "r") as f:
        n = int(f.attrs["n_trajectories"])
        fields = {c.field: f[c.group][c.field] for c in recipe.channels}
        for start in range(0, n, rows_per_block):
            rows = slice(start, min(n, start + rows_per_block))
            b = rows.stop - rows.start
            length = f["scalars/length"]
            time = f["dimensions/time"]
            yield {
                "fields": {name: dataset[rows] for name, dataset in fields.items()},
                "sample_index": f["pdeop/sample_index"][rows],
                "seed": f["pdeop/seed"][rows],
                "caption": f["pdeop/caption"].asstr()[rows],
                "parameters": read_parameters(f, rows),
                "length": length[rows] if length.ndim else np.full(b, length[()]),
                "time": time[rows] if time.ndim == 2 else np.broadcast_to(time[:], (b, time.shape[0])),
            }


def open_hdf5(path: str | Path, what: str = "file") -> h5py.File:
    """``path`` opened for reading; ``MissingFileError`` ("no {what} at ...") when it is not a file and
    ``InputError`` when it is not HDF5, instead of h5py's ``OSError``. Use it as ``with open_hdf5(...) as f``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no {what} at {path}")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise InputError(f"{path} is not a readable HDF5 file ({error})") from error


def file_recipe(path: str | Path) -> Recipe:
    """The recipe stored in a dataset file; a clear InputError when the file is not a pdeop dataset."""
    path = Path(path)
    with open_hdf5(path, "dataset file") as f:
        text = f.attrs.get("recipe")
        if text is None and "observation_model" in f.attrs:
            raise InputError(
                f"{path} is an observation file (pdeop observe), not a dataset: pdeop assimilate "
                "--observations and pdeop evaluate --observations read it"
            )
    if text is None:
        raise InputError(f"{path} is an HDF5 file but not a pdeop dataset (no recipe attribute)")
    try:
        recipe = Recipe.from_dict(json.loads(text))
    except (ValueError, TypeError) as error:
        raise InputError(f"{path} has an unreadable recipe attribute ({str(error).splitlines()[0]})") from error
    return recipe


def file_identity(path: str | Path) -> dict:
    """What identifies a dataset file's content: recipe, seed, split, size and a hash of its root attributes.

    Two files with the same identity were generated the same way (the attributes
    hold the recipe, seed, split, counts and the per-field statistics).
    """
    path = Path(path)
    recipe = file_recipe(path)
    with h5py.File(path, "r") as f:
        attributes = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    attributes.pop("pdeop_version", None)
    text = json.dumps(attributes, sort_keys=True, default=str)
    return {
        "path": str(path.resolve()),
        "dataset": recipe.name,
        "seed": int(attributes.get("seed", 0)),
        "split": str(attributes.get("split", "")),
        "trajectories": int(attributes.get("n_trajectories", 0)),
        "attributes_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
