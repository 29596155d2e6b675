"""Writing datasets in The Well's HDF5 layout, atomically.

Layout (see ``shared/reference/datasets.md``): root attributes ``dataset_name``,
``grid_type``, ``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters``
(each also a root attribute and a ``/scalars/<name>`` dataset); groups
``dimensions`` (``time``, ``x``[, ``y``]), ``boundary_conditions`` (periodic on
every axis), ``scalars``, ``t0_fields`` (the scalar field, float32
``(sample, time, *grid)``), ``t1_fields``, ``t2_fields``. pdeop adds root
attributes ``recipe`` (JSON), ``seed``, ``split``, ``pdeop_version``,
``statistics`` (JSON) and a group ``pdeop`` with per-trajectory ``caption``,
``seed`` and ``sample_index``.

A file is written under a temporary name and renamed into place when complete,
so a file at the final path is always whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import h5py
import numpy as np

from pde_data.presets import Recipe

SPATIAL_DIMS = ("x", "y", "z")
#: per-trajectory arrays every block carries
BLOCK_KEYS = ("field", "sample_index", "seed", "length", "time", "caption")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown"


class RunningStatistics:
    """Mean, std and rms of a field and of its time differences, accumulated in float64 in sample order."""

    def __init__(self):
        self.sums = np.zeros(4)  # sum u, sum u^2, sum du, sum du^2
        self.counts = np.zeros(2)

    def add(self, trajectory: np.ndarray) -> None:
        u = trajectory.astype(np.float64)
        du = np.diff(u, axis=0)
        self.sums += [u.sum(), (u * u).sum(), du.sum(), (du * du).sum()]
        self.counts += [u.size, du.size]

    def result(self) -> dict[str, float]:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, square = self.sums[0] / self.counts[0], self.sums[1] / self.counts[0]
            mean_delta = self.sums[2] / self.counts[1] if self.counts[1] else 0.0
            square_delta = self.sums[3] / self.counts[1] if self.counts[1] else 0.0
        return {
            "mean": float(mean),
            "std": float(np.sqrt(max(square - mean**2, 0.0))),
            "rms": float(np.sqrt(square)),
            "mean_delta": float(mean_delta),
            "std_delta": float(np.sqrt(max(square_delta - mean_delta**2, 0.0))),
            "rms_delta": float(np.sqrt(square_delta)),
        }


def _string_list(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=h5py.string_dtype())


def _flags(dataset: h5py.Dataset, sample: bool, time: bool, dims: int | None = None) -> None:
    dataset.attrs["sample_varying"] = sample
    dataset.attrs["time_varying"] = time
    if dims is not None:
        dataset.attrs["dim_varying"] = np.ones(dims, dtype=bool)


def _create_layout(f: h5py.File, recipe: Recipe, n: int, metadata: dict) -> dict[str, h5py.Dataset]:
    ndim, frames, field = recipe.ndim, recipe.frames, recipe.field_name
    dims = list(SPATIAL_DIMS[:ndim])
    length_varies, time_varies = recipe.length_jitter > 0, recipe.time_jitter > 0
    parameters = [*sorted(recipe.coefficients), "length"]
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
    fields = f.create_group("t0_fields")
    fields.attrs["field_names"] = _string_list([field])
    shape = (n, frames, *(recipe.resolution,) * ndim)
    out["field"] = fields.create_dataset(field, shape=shape, dtype="f4", chunks=(1, *shape[1:]))
    _flags(out["field"], True, True, ndim)
    for group in ("t1_fields", "t2_fields"):
        f.create_group(group).attrs["field_names"] = _string_list([])
    extras = f.create_group("pdeop")
    out["caption"] = extras.create_dataset("caption", shape=(n,), dtype=h5py.string_dtype())
    out["seed"] = extras.create_dataset("seed", shape=(n,), dtype="u8")
    out["sample_index"] = extras.create_dataset("sample_index", shape=(n,), dtype="i8")
    return out


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On failure the temporary file is removed, so ``path`` is either the old file
    or the complete new one, never a partial write.
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()


def write_well_file(path: Path, recipe: Recipe, n_trajectories: int, blocks: Iterable[dict], metadata: dict) -> Path:
    """Write ``blocks`` (dicts of per-trajectory arrays, in sample order) to one HDF5 file at ``path``.

    Each block holds ``field (b, frames, *grid)``, ``sample_index (b,)``, ``seed (b,)``,
    ``length (b,)``, ``time (b, frames)`` and ``caption`` (b strings). Written to a
    temporary file first and renamed, so ``path`` never holds a partial file.
    """
    path = Path(path)
    statistics = RunningStatistics()
    with atomic_output(path) as temporary, h5py.File(temporary, "w") as f:
        out = _create_layout(f, recipe, n_trajectories, metadata)
        position, first = 0, True
        for block in blocks:
            b = len(block["sample_index"])
            rows = slice(position, position + b)
            for trajectory in block["field"]:
                statistics.add(trajectory)
            out["field"][rows] = block["field"].astype(np.float32)
            for key in ("caption", "seed", "sample_index"):
                out[key][rows] = block[key]
            _write_coordinates(out, recipe, block, rows, first)
            position += b
            first = False
        if position != n_trajectories:
            raise RuntimeError(f"expected {n_trajectories} trajectories, got {position}")
        stats = statistics.result()
        out["field"].attrs.update(stats)
        f.attrs["statistics"] = json.dumps({recipe.field_name: stats}, sort_keys=True)
    return path


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
    with h5py.File(path, "r") as f:
        recipe = Recipe.from_dict(json.loads(f.attrs["recipe"]))
        n = int(f.attrs["n_trajectories"])
        field = f["t0_fields"][recipe.field_name]
        for start in range(0, n, rows_per_block):
            rows = slice(start, min(n, start + rows_per_block))
            b = rows.stop - rows.start
            length = f["scalars/length"]
            time = f["dimensions/time"]
            yield {
                "field": field[rows],
                "sample_index": f["pdeop/sample_index"][rows],
                "seed": f["pdeop/seed"][rows],
                "caption": f["pdeop/caption"].asstr()[rows],
                "length": length[rows] if length.ndim else np.full(b, length[()]),
                "time": time[rows] if time.ndim == 2 else np.broadcast_to(time[:], (b, time.shape[0])),
            }


def file_recipe(path: Path) -> Recipe:
    with h5py.File(path, "r") as f:
        return Recipe.from_dict(json.loads(f.attrs["recipe"]))
