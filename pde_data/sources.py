"""One interface for the trajectory data pdeop reads: its own files and The Well's (a file or a dataset
directory). ``open_source`` is the one place that tells them apart.

Both kinds give, for a split: ``trajectory_indices`` (the indices reports name trajectories by),
``trajectory(index)`` ``(time, channels, *grid)`` float32, ``constants(index)`` (the fields constant in
time, ``(C_const, *grid)``, or ``None``), ``constant_names``, ``coordinates(index)`` (the first axis),
``channel_names``, ``description`` (``name``, ``equation``, ...), ``summary(captions)`` (what
``pdeop info`` prints) and ``generated``: whether pdeop generated the data, so that its recipe, solver
and per-trajectory parameters are known (the trajectory and initial-condition data modes, solver timing
and captions need them). ``window_data`` gives the window data mode's dataset of either kind.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pde_data.loading import FileData, TrajectoryDataset
from pde_data.well import WellWindows, is_well_source
from solvers.errors import InputError, MissingFileError


def open_source(path: str | Path, split: str | None = None) -> FileData | WellWindows:
    """The trajectories of ``split`` of a pdeop file or of The Well's data at ``path`` (``None``: all of a file;
    a Well dataset directory's train split)."""
    path = source_path(path)
    if not is_well_source(path):
        return FileData(path, split)
    return WellWindows(path, "train" if split is None and path.is_dir() else split)


def window_data(
    path: str | Path, history: int, horizon: int, stride: int, split: str | None, **options
) -> torch.utils.data.Dataset:
    """(history in, horizon out) windows of either kind of data (the ``window`` data mode)."""
    path = source_path(path)
    if is_well_source(path):
        unknown = set(options) - {"first_frame"}
        if unknown:
            raise InputError(f"{path} is read as The Well's data, which does not take {', '.join(sorted(unknown))}")
        return WellWindows(path, split, history, horizon, stride, **options)
    return TrajectoryDataset(path, history, horizon, stride, split, **options)


def is_source(path: str | Path) -> bool:
    """Whether ``path`` holds trajectory data pdeop reads: a file, or a Well dataset directory."""
    path = Path(path)
    return path.is_file() or (path.is_dir() and is_well_source(path))


def source_path(path: str | Path) -> Path:
    """``path`` when it holds trajectory data (``is_source``); a missing-file error saying what it is otherwise."""
    path = Path(path)
    if not is_source(path):
        raise MissingFileError(
            f"no dataset file at {path}" + (" (a folder, but not a Well dataset)" if path.is_dir() else "")
        )
    return path
