"""PDEArena's Navier-Stokes files (smoke buoyancy, SineNet's data), as its ``NavierStokesDatapipe`` reads them.

One group named after the split (``train``, ``valid`` or ``test``) holds ``u`` (the smoke density) and the
velocity ``vx``, ``vy``, each ``(N, T, X, Y)``, with per-trajectory ``t`` ``(N, T)``, ``x`` ``(N, X)``,
``y`` ``(N, Y)`` and ``dt``, ``dx``, ``dy`` and the buoyancy ``buo_y`` ``(N,)`` (a parameter). The
converted file is entirely that split. The domain is a closed box (not periodic) unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from pde_data.convert.source import ConvertedSource, FieldSpec, require

SPLITS = ("train", "valid", "test")


def read_pdearena(path: Path, periodic: bool | None = None) -> ConvertedSource:
    """PDEArena's Navier-Stokes HDF5 files."""
    with h5py.File(path, "r") as f:
        groups = [k for k in SPLITS if k in f]
        require(
            len(groups) == 1,
            path,
            f"a PDEArena file holds one group named train, valid or test; found {sorted(f.keys())[:8]}",
        )
        split = groups[0]
        data = f[split]
        missing = [k for k in ("u", "vx", "vy") if k not in data]
        require(not missing, path, f"group {split} lacks {', '.join(missing)} (needs u, vx, vy)")
        shape = data["u"].shape
        require(len(shape) == 4, path, f"{split}/u should be (N, T, X, Y), got {shape}")
        wrong = [k for k in ("vx", "vy") if data[k].shape != shape]
        require(not wrong, path, f"{split}/{', '.join(wrong)} differ in shape from u {shape}")
        n, steps, grid = shape[0], shape[1], tuple(shape[2:])
        require(steps >= 2, path, f"{split}/u has {steps} time step(s): nothing to predict")
        assumed = []
        times = _array(data, "t", (n, steps))
        if times is None:
            dt = _array(data, "dt", (n,))
            times = (dt[:, None] if dt is not None else np.ones((n, 1))) * np.arange(steps)
            assumed.append("time: from dt" if dt is not None else "time: steps of unit length (no t, no dt)")
        coordinates = {}
        for axis, points in zip("xy", grid, strict=True):
            values = _array(data, axis, (n, points))
            if values is None:
                values = np.linspace(0.0, 1.0, points)
                assumed.append(f"{axis}: {points} points on [0, 1] (no {split}/{axis})")
            coordinates[axis] = values
        parameters = {}
        if "buo_y" in data:
            parameters["buo_y"] = np.asarray(data["buo_y"][()], dtype=np.float64).reshape(n)
    if periodic is None:
        periodic = False
        assumed.append("boundaries: a closed box, not periodic")

    def read_block(start: int, stop: int) -> dict[str, np.ndarray]:
        with h5py.File(path, "r") as f:
            group = f[split]
            velocity = np.stack([group["vx"][start:stop], group["vy"][start:stop]], axis=-1)
            return {"u": group["u"][start:stop], "velocity": velocity}

    return ConvertedSource(
        path.stem,
        [FieldSpec("u"), FieldSpec("velocity", 1)],
        n,
        steps,
        grid,
        times,
        coordinates,
        periodic,
        read_block,
        parameters,
        split,
        None,
        assumed,
    )


def _array(group: h5py.Group, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """``group[key]`` as float64 of ``shape`` (collapsed to one row when every row is the same), or None."""
    if key not in group or group[key].shape != shape:
        return None
    values = np.asarray(group[key][()], dtype=np.float64)
    if values.ndim == 2 and np.allclose(values, values[:1]):
        return values[0]
    return values
