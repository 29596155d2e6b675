"""The FNO paper's MATLAB files (``burgers_data_R10.mat``, ``ns_V1e-3_N5000_T50.mat``, Darcy's
``piececonst_r421_N1024_smooth1.mat``), as its scripts read them with ``MatReader``.

Arrays, sample axis first as MATLAB writes them: Burgers ``a``, ``u`` ``(N, X)`` (the state at t = 0 and
t = 1); Navier-Stokes ``a`` ``(N, X, Y)`` (the vorticity at t = 0) and ``u`` ``(N, X, Y, T)`` (time last,
at the times ``t``, 1..T when absent); Darcy ``coeff`` and ``sol`` ``(N, X, Y)``. A pair (``u`` without a
time axis) becomes a two-state trajectory at times 0 and 1; a Navier-Stokes file becomes ``a`` followed by
the ``T`` states of ``u``.

MATLAB v7.3 files are HDF5: read with h5py, where every array comes out with its axes reversed (``u`` is
``(T, Y, X, N)``), block by block. Older (v5) files need ``scipy.io.loadmat``, which reads the whole file.
The domain is the unit box (periodic for Burgers and Navier-Stokes, not for Darcy): the files do not say.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from pde_data.convert.source import ConvertedSource, FieldSpec, require, unit_coordinates
from solvers.errors import InputError

PAIRS = (("a", "u"), ("coeff", "sol"))


def read_fno_mat(path: Path, periodic: bool | None = None) -> ConvertedSource:
    """FNO paper .mat files (MATLAB v7.3 or v5)."""
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            keys = [k for k in f.keys() if not k.startswith("#")]
            shapes = {k: tuple(reversed(f[k].shape)) for k in keys if isinstance(f[k], h5py.Dataset)}
        arrays = None
        version = "MATLAB v7.3 (HDF5, axes reversed)"
    else:
        arrays = _loadmat(path)
        shapes = {k: v.shape for k, v in arrays.items()}
        version = "MATLAB v5 (scipy.io.loadmat)"
    pair = next((p for p in PAIRS if p[0] in shapes and p[1] in shapes), None)
    require(
        pair is not None,
        path,
        f"not an FNO .mat file: it needs the arrays a and u (or coeff and sol); it holds {sorted(shapes)}",
    )
    inputs, outputs = pair
    a_shape, u_shape = shapes[inputs], shapes[outputs]
    n, grid = a_shape[0], tuple(a_shape[1:])
    require(len(grid) in (1, 2), path, f"{inputs} should be (N, X) or (N, X, Y), got {a_shape}")
    if u_shape == a_shape:
        steps, times = 2, np.array([0.0, 1.0])
    else:
        require(
            u_shape[:-1] == a_shape and len(u_shape) == len(a_shape) + 1,
            path,
            f"{outputs} should be {a_shape} or {(*a_shape, 'T')} (time last), got {u_shape}",
        )
        steps = u_shape[-1] + 1
        times = np.concatenate([[0.0], _times(path, arrays, u_shape[-1])])
    assumed = [f"file format: {version}"]
    darcy = inputs == "coeff"
    if periodic is None:
        periodic = not darcy
        assumed.append(f"domain: the unit box, {'periodic' if periodic else 'not periodic'} (the file does not say)")
    if u_shape == a_shape:
        assumed.append(f"pairs: {inputs} is state 0 and {outputs} state 1 of one channel u")
    coordinates = {axis: unit_coordinates(points, periodic) for axis, points in zip("xy", grid, strict=False)}

    def read_block(start: int, stop: int) -> dict[str, np.ndarray]:
        if arrays is None:
            with h5py.File(path, "r") as f:  # reversed axes: the sample axis is the last
                first = np.asarray(f[inputs][..., start:stop]).transpose()
                rest = np.asarray(f[outputs][..., start:stop]).transpose()
        else:
            first, rest = arrays[inputs][start:stop], arrays[outputs][start:stop]
        states = rest[:, None] if rest.ndim == first.ndim else np.moveaxis(rest, -1, 1)
        return {"u": np.concatenate([first[:, None], states], axis=1)}

    return ConvertedSource(
        path.stem,
        [FieldSpec("u")],
        n,
        steps,
        grid,
        times,
        coordinates,
        periodic,
        read_block,
        {},
        "train",
        None,
        assumed,
    )


def _times(path: Path, arrays: dict | None, count: int) -> np.ndarray:
    if arrays is None:
        with h5py.File(path, "r") as f:
            values = np.asarray(f["t"][()]).ravel() if "t" in f else None
    else:
        values = np.asarray(arrays["t"]).ravel() if "t" in arrays else None
    if values is None or values.size != count:
        return np.arange(1, count + 1, dtype=np.float64)
    return values.astype(np.float64)


def _loadmat(path: Path) -> dict[str, np.ndarray]:
    try:
        from scipy.io import loadmat
    except ImportError as error:
        raise InputError(f"{path} is a MATLAB v5 file, which needs scipy: pip install 'pdeop[convert]'") from error
    try:
        contents = loadmat(path)
    except Exception as error:  # scipy raises MatReadError, ValueError, ... for files it cannot read
        raise InputError(f"{path} is neither an HDF5 (v7.3) nor a readable MATLAB v5 file ({error})") from error
    return {k: np.asarray(v) for k, v in contents.items() if not k.startswith("__")}
