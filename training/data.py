"""Training and validation datasets for each data mode, from the ``data`` section of a run config.

``window``: ``pde_data.TrajectoryDataset``; ``trajectory``:
``pde_data.FullTrajectoryDataset``; ``initial-condition``:
``pde_data.InitialConditionDataset`` (no file: ``data.recipe`` names the recipe).
Validation data is ``data.val_split`` of ``data.val_path`` (default ``data.path``);
see ``pde_data.loading`` for what a split means.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch.utils.data import Dataset

import pde_data
from solvers.errors import InputError, MissingFileError

if TYPE_CHECKING:
    from training.config import DataConfig

DATA_MODES = ("window", "trajectory", "initial-condition")


def data_file(data: DataConfig) -> Path:
    if not data.path:
        raise InputError("no training data: pass --data FILE (or set data.path)")
    path = Path(data.path)
    if not path.is_file():
        raise MissingFileError(f"no dataset file at {path}")
    return path


def validation_file(data: DataConfig) -> Path:
    return Path(data.val_path) if data.val_path else data_file(data)


def datasets_for_mode(mode: str, data: DataConfig, **options) -> tuple[Dataset, Dataset]:
    """``(train, validation)`` datasets of ``mode``; ``options`` go to the dataset class."""
    if mode == "window":
        history, horizon = options.pop("history", data.history), options.pop("horizon", data.horizon)
        train_frames_out = options.pop("train_horizon", horizon)
        stride = options.pop("stride", data.stride)
        options.setdefault("first_frame", data.first_frame)
        train = pde_data.TrajectoryDataset(
            data_file(data), history, train_frames_out, stride, data.train_split, **options
        )
        val = pde_data.TrajectoryDataset(validation_file(data), history, horizon, stride, data.val_split, **options)
        return train, val
    if mode == "trajectory":
        train = pde_data.FullTrajectoryDataset(data_file(data), data.train_split, **options)
        return train, pde_data.FullTrajectoryDataset(validation_file(data), data.val_split, **options)
    if mode == "initial-condition":
        if not data.recipe:
            raise InputError(
                "the initial-condition data mode needs data.recipe (a preset name, see pdeop generate --help)"
            )
        train = pde_data.InitialConditionDataset(data.recipe, data.samples, data.seed, "train", **options)
        val_samples = max(1, (data.samples or train.recipe.samples.get("valid", 1)) // 8)
        return train, pde_data.InitialConditionDataset(data.recipe, val_samples, data.seed, "valid", **options)
    raise InputError(f"unknown data mode {mode!r}; known: {', '.join(DATA_MODES)}")
