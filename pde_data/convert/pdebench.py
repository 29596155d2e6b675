"""PDEBench's HDF5 files (as its ``FNODatasetSingle`` / ``FNODatasetMult`` loaders read them).

Flat files hold one array per field with the sample axis first:
- scalar equations: ``tensor`` ``(N, T, X[, Y])`` with ``x-coordinate`` ``(X,)`` [``y-coordinate``] and
  ``t-coordinate`` (``T + 1`` entries in the released files: the states are at its first ``T``);
- compressible Navier-Stokes: ``density``, ``pressure``, ``Vx``, ``Vy``[, ``Vz``] each ``(N, T, *grid)``
  (converted to ``density``, ``pressure`` and the vector ``velocity``);
- Darcy flow: ``nu`` ``(N, X, Y)`` (the coefficient) and ``tensor`` ``(N, 1, X, Y)`` (the solution): stored
  as a two-state trajectory per sample, the coefficient at time 0 and the solution at time 1 (one channel
  ``u``; the two are different quantities, so an operator learns the map between the two states).
Seed-group files hold one group per sample (``0000``, ``0001``, ...) with ``data`` ``(T, *grid, C)`` and
``grid/{x, y, t}``; channels are named after the equation when the file name tells it (diffusion-reaction
``u``, ``v``; shallow water ``h``), else ``c0``, ``c1``, ...

Parameters come from the file name (``1D_Burgers_Sols_Nu0.001`` -> ``Nu = 0.001``). Splits: PDEBench tests
on the first 10 % of a flat file (``int(0.1 N)`` samples) and on the last 10 % of the sorted seed groups;
the converter orders trajectories so that PDEBench's test samples come last, where pdeop's 80 / 10 / 10 rule
puts its test split (``pdeop/source_index`` keeps the original indices).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from pde_data.convert.source import ConvertedSource, FieldSpec, parameters_from_name, require, unit_coordinates

VELOCITY = ("Vx", "Vy", "Vz")
CHANNEL_NAMES = {"diff-react": ("u", "v"), "rdb": ("h",), "shallow": ("h",)}


def read_pdebench(path: Path, periodic: bool | None = None) -> ConvertedSource:
    """PDEBench's flat and seed-group HDF5 files."""
    with h5py.File(path, "r") as f:
        keys = set(f.keys())
        if "tensor" in keys:
            return _flat_scalar(path, f, periodic)
        if "density" in keys:
            return _flat_cfd(path, f, periodic)
        groups = sorted(k for k in keys if isinstance(f[k], h5py.Group) and "data" in f[k])
        require(
            bool(groups),
            path,
            "not a PDEBench file: it has no 'tensor', no 'density' and no seed groups "
            f"with a 'data' array (top-level keys: {sorted(keys)[:8]})",
        )
        return _seed_groups(path, f, groups, periodic)


def _test_last(n: int) -> np.ndarray:
    """Source indices in converted order: PDEBench's flat-file test samples (the first ``int(0.1 n)``) last."""
    test = int(n * 0.1)
    return np.concatenate([np.arange(test, n), np.arange(test)])


def _reader(path: Path, names: dict[str, list[str]], order: np.ndarray, transform=None):
    """A block reader: each converted field stacks the listed source arrays (several: a vector's components)."""

    def read_block(start: int, stop: int) -> dict[str, np.ndarray]:
        rows = order[start:stop]
        sorted_rows, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing indices
        with h5py.File(path, "r") as f:
            out = {}
            for field, sources in names.items():
                parts = [np.asarray(f[s][sorted_rows])[inverse] for s in sources]
                out[field] = parts[0] if len(parts) == 1 else np.stack(parts, axis=-1)
        return transform(out) if transform else out

    return read_block


def _coordinates(path: Path, f: h5py.File, grid: tuple[int, ...], periodic: bool, assumed: list[str]) -> dict:
    out = {}
    for axis, points in zip("xyz", grid, strict=False):
        key = f"{axis}-coordinate"
        if key in f and f[key].shape[-1] == points:
            out[axis] = np.asarray(f[key][()], dtype=np.float64).reshape(-1)[:points]
        else:
            out[axis] = unit_coordinates(points, periodic)
            assumed.append(f"{axis}: {points} points on the unit interval (the file has no {key})")
    return out


def _times(f: h5py.File, steps: int, assumed: list[str]) -> np.ndarray:
    if "t-coordinate" in f and f["t-coordinate"].shape[-1] >= steps:
        values = np.asarray(f["t-coordinate"][()], dtype=np.float64).reshape(-1)
        if values.size == steps + 1:
            assumed.append(f"time: the first {steps} of the {steps + 1} t-coordinate entries")
        return values[:steps]
    assumed.append(f"time: steps 0..{steps - 1} of unit length (the file has no usable t-coordinate)")
    return np.arange(steps, dtype=np.float64)


def _periodic(path: Path, periodic: bool | None, default: bool, assumed: list[str]) -> bool:
    if periodic is None:
        assumed.append(f"boundaries: {'periodic' if default else 'not periodic'} (PDEBench files do not record them)")
        return default
    return periodic


def _flat_scalar(path: Path, f: h5py.File, periodic: bool | None) -> ConvertedSource:
    tensor, assumed = f["tensor"], []
    if "nu" in f:  # Darcy flow: coefficient -> solution
        require(
            tensor.ndim == 4 and tensor.shape[1] == 1 and f["nu"].shape == (tensor.shape[0], *tensor.shape[2:]),
            path,
            f"Darcy arrays should be nu (N, X, Y) and tensor (N, 1, X, Y); got {f['nu'].shape} and {tensor.shape}",
        )
        n, grid = tensor.shape[0], tuple(tensor.shape[2:])
        order = _test_last(n)
        is_periodic = _periodic(path, periodic, False, assumed)
        assumed.append("pairs: the coefficient nu is state 0 and the solution state 1 of one channel u")

        def pair(block):
            return {"u": np.stack([block["nu"], block["tensor"][:, 0]], axis=1)}

        read = _reader(path, {"nu": ["nu"], "tensor": ["tensor"]}, order, pair)
        return ConvertedSource(
            path.stem,
            [FieldSpec("u")],
            n,
            2,
            grid,
            np.array([0.0, 1.0]),
            _coordinates(path, f, grid, is_periodic, assumed),
            is_periodic,
            read,
            parameters_from_name(path),
            "train",
            order,
            assumed,
        )
    require(tensor.ndim in (3, 4), path, f"'tensor' should be (N, T, X) or (N, T, X, Y), got shape {tensor.shape}")
    n, steps, grid = tensor.shape[0], tensor.shape[1], tuple(tensor.shape[2:])
    require(steps >= 2, path, f"'tensor' has {steps} time step(s): nothing to predict")
    order = _test_last(n)
    is_periodic = _periodic(path, periodic, True, assumed)
    return ConvertedSource(
        path.stem,
        [FieldSpec("u")],
        n,
        steps,
        grid,
        _times(f, steps, assumed),
        _coordinates(path, f, grid, is_periodic, assumed),
        is_periodic,
        _reader(path, {"u": ["tensor"]}, order),
        parameters_from_name(path),
        "train",
        order,
        assumed,
    )


def _flat_cfd(path: Path, f: h5py.File, periodic: bool | None) -> ConvertedSource:
    density = f["density"]
    ndim = density.ndim - 2
    require(ndim in (1, 2, 3), path, f"'density' should be (N, T, *grid) with 1 to 3 axes, got {density.shape}")
    needed = ["pressure", *VELOCITY[:ndim]]
    missing = [k for k in needed if k not in f]
    require(
        not missing,
        path,
        f"a compressible-flow file needs density, pressure and {', '.join(VELOCITY[:ndim])}; "
        f"missing {', '.join(missing)}",
    )
    wrong = [k for k in needed if f[k].shape != density.shape]
    require(not wrong, path, f"{', '.join(wrong)} differ in shape from density {density.shape}")
    n, steps, grid = density.shape[0], density.shape[1], tuple(density.shape[2:])
    assumed = []
    order = _test_last(n)
    is_periodic = _periodic(path, periodic, "periodic" in path.stem.lower() or ndim == 1, assumed)
    fields = [FieldSpec("density"), FieldSpec("pressure")] + (
        [FieldSpec("velocity", 1)] if ndim > 1 else [FieldSpec("velocity_x")]
    )
    sources = {"density": ["density"], "pressure": ["pressure"]}
    sources["velocity" if ndim > 1 else "velocity_x"] = list(VELOCITY[:ndim])
    return ConvertedSource(
        path.stem,
        fields,
        n,
        steps,
        grid,
        _times(f, steps, assumed),
        _coordinates(path, f, grid, is_periodic, assumed),
        is_periodic,
        _reader(path, sources, order),
        parameters_from_name(path),
        "train",
        order,
        assumed,
    )


def _seed_groups(path: Path, f: h5py.File, groups: list[str], periodic: bool | None) -> ConvertedSource:
    first = f[groups[0]]["data"]
    require(first.ndim >= 3, path, f"{groups[0]}/data should be (T, *grid, C), got shape {first.shape}")
    different = [g for g in groups if f[g]["data"].shape != first.shape]
    require(
        not different,
        path,
        f"seed group {different[0] if different else ''} has another shape than {groups[0]} {first.shape}",
    )
    steps, grid, channels = first.shape[0], tuple(first.shape[1:-1]), first.shape[-1]
    require(steps >= 2, path, f"{groups[0]}/data has {steps} time step(s): nothing to predict")
    assumed = []
    stem = path.stem.lower()
    names = next((v for k, v in CHANNEL_NAMES.items() if k in stem and len(v) == channels), None)
    if names is None:
        names = tuple(f"c{i}" for i in range(channels))
        assumed.append(f"channel names c0..c{channels - 1} (the file does not name its {channels} channel(s))")
    is_periodic = _periodic(path, periodic, False, assumed)
    grid_group = first.parent.get("grid")
    coordinates = {}
    for axis, points in zip("xyz", grid, strict=False):
        if grid_group is not None and axis in grid_group and grid_group[axis].shape[-1] == points:
            coordinates[axis] = np.asarray(grid_group[axis][()], dtype=np.float64)
        else:
            coordinates[axis] = unit_coordinates(points, is_periodic)
            assumed.append(f"{axis}: {points} points on the unit interval ({groups[0]}/grid has no {axis})")
    if grid_group is not None and "t" in grid_group and grid_group["t"].shape[-1] == steps:
        times = np.asarray(grid_group["t"][()], dtype=np.float64)
    else:
        times = np.arange(steps, dtype=np.float64)
        assumed.append(f"time: steps 0..{steps - 1} of unit length ({groups[0]}/grid has no t of {steps} entries)")

    def read_block(start: int, stop: int) -> dict[str, np.ndarray]:
        with h5py.File(path, "r") as g:
            data = np.stack([g[name]["data"][()] for name in groups[start:stop]])  # (b, T, *grid, C)
        return {name: data[..., c] for c, name in enumerate(names)}

    return ConvertedSource(
        path.stem,
        [FieldSpec(name) for name in names],
        len(groups),
        steps,
        grid,
        times,
        coordinates,
        is_periodic,
        read_block,
        parameters_from_name(path),
        "train",
        np.arange(len(groups)),
        assumed,
    )
