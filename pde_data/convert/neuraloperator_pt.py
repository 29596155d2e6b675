"""neuraloperator's ``.pt`` datasets (``darcy_train_16.pt``, ``nsforcing_train_128.pt``, ...), as its
``PTDataset`` reads them: a dict with ``x`` ``(N, *grid)`` (or ``(N, 1, *grid)``) and ``y`` of the same
shape, or ``(N, T, *grid)`` for a trajectory after ``x``.

Loaded with ``torch.load(weights_only=True)`` (never unpickled), which reads the whole file: ``.pt`` files
cannot be read in parts. A pair becomes a two-state trajectory at times 0 and 1 (``x`` state 0, ``y``
state 1 of one channel ``u``); a ``y`` with a time axis follows ``x`` at times 1..T. The domain is the unit
box, not periodic unless told (Darcy's is not; the files do not say).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pde_data.convert.source import ConvertedSource, FieldSpec, require, unit_coordinates
from solvers.errors import InputError


def read_neuraloperator_pt(path: Path, periodic: bool | None = None) -> ConvertedSource:
    """Tensor dicts of x and y as neuraloperator saves them (.pt)."""
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a safe tensor dict
        raise InputError(
            f"{path} is not a .pt file of tensors that loads safely ({str(error).splitlines()[0]})"
        ) from error
    require(
        isinstance(contents, dict) and {"x", "y"} <= set(contents),
        path,
        "a neuraloperator .pt file is a dict with tensors x and y"
        + (f"; this one has {sorted(map(str, contents))[:8]}" if isinstance(contents, dict) else ""),
    )
    x, y = (torch.as_tensor(contents[k]).float().numpy() for k in ("x", "y"))
    if x.ndim == y.ndim and x.ndim >= 3 and x.shape[1] == 1 and y.shape[1] == 1:  # a channel axis of one
        x, y = x[:, 0], y[:, 0]
    require(x.ndim in (2, 3), path, f"x should be (N, X) or (N, X, Y), got {tuple(x.shape)}")
    n, grid = x.shape[0], tuple(x.shape[1:])
    if y.shape == x.shape:
        states, times = np.stack([x, y], axis=1), np.array([0.0, 1.0])
    else:
        require(
            y.ndim == x.ndim + 1 and y.shape[0] == n and tuple(y.shape[2:]) == grid,
            path,
            f"y should be {tuple(x.shape)} or (N, T, *grid) = ({n}, T, {', '.join(map(str, grid))}), "
            f"got {tuple(y.shape)}",
        )
        states = np.concatenate([x[:, None], y], axis=1)
        times = np.arange(states.shape[1], dtype=np.float64)
    assumed = ["x is state 0 and y the following state(s) of one channel u; times 0, 1, ..."]
    if periodic is None:
        periodic = False
        assumed.append("domain: the unit box, not periodic (the file does not say)")
    coordinates = {axis: unit_coordinates(points, periodic) for axis, points in zip("xy", grid, strict=False)}
    return ConvertedSource(
        path.stem,
        [FieldSpec("u")],
        n,
        states.shape[1],
        grid,
        times,
        coordinates,
        periodic,
        lambda start, stop: {"u": states[start:stop]},
        {},
        "train",
        None,
        assumed,
    )
