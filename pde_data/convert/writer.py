"""Writing a ``ConvertedSource`` as one HDF5 file in The Well's layout, streamed block by block, atomically.

The file is what ``pde_data.WellWindows`` reads (so ``pdeop train --data`` takes it): root attributes
``dataset_name``, ``grid_type``, ``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters``,
``split`` and ``pdeop_source`` (JSON: the source format, file name and size, and what was assumed);
``dimensions`` (``time`` and one coordinate per axis), ``boundary_conditions`` (periodic, when it is),
``scalars``, ``t0_fields`` / ``t1_fields`` (float32, flags as The Well sets them; per-field ``mean`` and
``std`` attributes, per component for vectors) and ``pdeop/source_index``. Only one block of
trajectories is in memory at a time; the file appears at its path only when complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from pde_data.convert.source import ConvertedSource
from pde_data.storage import SPATIAL_DIMS, atomic_output, package_version
from solvers.errors import InputError


def write_converted(
    source: ConvertedSource, out: Path, provenance: dict, block: int = 16, progress: bool = True, replace: bool = True
) -> Path:
    """Write ``source`` to ``out`` (``provenance``: format, source file, ...); returns ``out`` (``replace``:
    as for ``pde_data.storage.atomic_output``)."""
    out = Path(out)
    if not out.parent.resolve().is_dir():
        raise InputError(f"cannot write {out}: folder {out.parent} does not exist")
    ndim = len(source.grid)
    axes = SPATIAL_DIMS[:ndim]
    with atomic_output(out, replace) as temporary, h5py.File(temporary, "w") as f:
        _write_header(f, source, axes, provenance)
        datasets = _create_fields(f, source, ndim)
        sums = {spec.name: np.zeros((2, ndim**spec.order)) for spec in source.fields}
        counts = dict.fromkeys(sums, 0)
        # closed on an error too, so that the error's line starts on a line of its own
        with tqdm(
            total=source.trajectories, unit="trajectory", desc=f"converting {out.name}", disable=not progress
        ) as bar:
            for start, stop, values in source.blocks(block):
                for spec in source.fields:
                    array = _checked(
                        values,
                        spec.name,
                        (stop - start, source.steps, *source.grid) + ((ndim,) if spec.order else ()),
                        source,
                    )
                    datasets[spec.name][start:stop] = array
                    flat = array.reshape(-1, ndim**spec.order).astype(np.float64)
                    sums[spec.name] += [flat.sum(0), np.square(flat).sum(0)]
                    counts[spec.name] += flat.shape[0]
                bar.update(stop - start)
        for spec in source.fields:
            mean = sums[spec.name][0] / counts[spec.name]
            std = np.sqrt(np.maximum(sums[spec.name][1] / counts[spec.name] - mean**2, 0.0))
            attrs = datasets[spec.name].attrs
            attrs["mean"], attrs["std"] = (mean[0], std[0]) if spec.order == 0 else (mean, std)
    return out


def _checked(values: dict, name: str, shape: tuple[int, ...], source: ConvertedSource) -> np.ndarray:
    if name not in values:
        raise InputError(f"the {source.name} converter gave no {name!r} block")
    array = np.asarray(values[name], dtype=np.float32)
    if array.shape != shape:
        raise InputError(f"{source.name}: field {name!r} has shape {array.shape} in a block, expected {shape}")
    if not np.isfinite(array).all():
        raise InputError(f"{source.name}: field {name!r} holds non-finite values; the source is corrupt")
    return array


def _write_header(f: h5py.File, source: ConvertedSource, axes: tuple[str, ...], provenance: dict) -> None:
    shared = {k: float(v) for k, v in source.parameters.items() if np.ndim(v) == 0}
    varying = {k: np.asarray(v, dtype=np.float64) for k, v in source.parameters.items() if np.ndim(v) == 1}
    f.attrs.update(
        dataset_name=source.name,
        grid_type="cartesian",
        n_spatial_dims=len(axes),
        n_trajectories=source.trajectories,
        split=source.split,
        pdeop_version=package_version(),
    )
    f.attrs["simulation_parameters"] = np.array([*shared, *varying], dtype=h5py.string_dtype())
    f.attrs.update(shared)
    f.attrs["pdeop_source"] = json.dumps({**provenance, "assumed": source.assumed})
    dims = f.create_group("dimensions")
    dims.attrs["spatial_dims"] = np.array(axes, dtype=h5py.string_dtype())
    for name, values in (("time", source.times), *source.coordinates.items()):
        dataset = dims.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        dataset.attrs["sample_varying"] = dataset.ndim == 2
        dataset.attrs["time_varying"] = name == "time"
    boundaries = f.create_group("boundary_conditions")
    if source.periodic:
        for axis in axes:
            group = boundaries.create_group(f"{axis}_periodic")
            group.attrs.update(
                associated_dims=np.array([axis], dtype=h5py.string_dtype()),
                bc_type="PERIODIC",
                associated_fields=np.array([], dtype=h5py.string_dtype()),
                sample_varying=False,
                time_varying=False,
            )
            group.create_dataset("mask", data=_edge_mask(source.grid[axes.index(axis)]))
    scalars = f.create_group("scalars")
    scalars.attrs["field_names"] = np.array([*shared, *varying], dtype=h5py.string_dtype())
    for name, value in (*shared.items(), *varying.items()):
        dataset = scalars.create_dataset(name, data=value)
        dataset.attrs.update(sample_varying=np.ndim(value) == 1, time_varying=False)
    index = source.source_index if source.source_index is not None else np.arange(source.trajectories)
    f.create_group("pdeop").create_dataset("source_index", data=np.asarray(index, dtype=np.int64))


def _edge_mask(points: int) -> np.ndarray:
    mask = np.zeros(points, dtype=bool)
    mask[[0, -1]] = True
    return mask


def _create_fields(f: h5py.File, source: ConvertedSource, ndim: int) -> dict[str, h5py.Dataset]:
    groups = {order: f.create_group(f"t{order}_fields") for order in (0, 1, 2)}
    datasets = {}
    for order, group in groups.items():
        names = [spec.name for spec in source.fields if spec.order == order]
        group.attrs["field_names"] = np.array(names, dtype=h5py.string_dtype())
    for spec in source.fields:
        shape = (source.trajectories, source.steps, *source.grid) + ((ndim,) if spec.order else ())
        chunks = (1, 1, *source.grid) + ((ndim,) if spec.order else ())  # one state per chunk: windows read few
        dataset = groups[spec.order].create_dataset(spec.name, shape=shape, dtype=np.float32, chunks=chunks)
        dataset.attrs.update(time_varying=True, sample_varying=True, dim_varying=np.ones(ndim, dtype=bool))
        datasets[spec.name] = dataset
    return datasets
