"""Training and validation datasets for each data mode, from the ``data`` section of a run config.

``window``: ``pde_data.TrajectoryDataset`` (``pde_data.WellWindows`` for The Well's data: a
Well dataset directory or a Well-layout file that pdeop did not generate, such as a converted one); ``trajectory``:
``pde_data.FullTrajectoryDataset``; ``initial-condition``:
``pde_data.InitialConditionDataset`` (no file: ``data.recipe`` names the recipe).
Validation data is ``data.val_split`` of ``data.val_path`` (default ``data.path``);
see ``pde_data.loading`` for what a split means.

Multi-resolution training (the NNs-to-NOs paper's): ``data.extra_train_paths``
adds the same problem stored at other resolutions; ``MultiResolutionDataset``
joins them and ``GroupedBatchSampler`` draws every batch from one file (tensors
of one batch share a grid), the files' batches shuffled together.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset, Sampler

import pde_data
from pde_data.loading import EmptySplitError
from pde_data.sources import is_source, open_source, source_path, window_data
from solvers.errors import InputError, MissingFileError

if TYPE_CHECKING:
    from training.config import DataConfig

DATA_MODES = ("window", "trajectory", "initial-condition")
#: initial states drawn per epoch in the initial-condition mode unless ``data.samples`` says otherwise: the tiny
#: recipes' 16 left the README's physics example at 95 % rollout error after its 10 epochs, 128 gives a usable model
INITIAL_STATES_PER_EPOCH = 128


def data_file(data: DataConfig) -> Path:
    """``data.path``: a dataset file, or a Well dataset directory (``pde_data.sources``)."""
    if not data.path:
        raise InputError("no training data: pass --data FILE (or set data.path)")
    return source_path(data.path)


def validation_file(data: DataConfig) -> Path:
    if not data.val_path:
        return data_file(data)
    if not is_source(data.val_path):
        raise MissingFileError(f"no validation dataset at {data.val_path} (data.val_path)")
    return Path(data.val_path)


def datasets_for_mode(mode: str, data: DataConfig, **options) -> tuple[Dataset, Dataset | None]:
    """``(train, validation)`` datasets of ``mode``; ``options`` go to the dataset class. Validation is None
    for a training file too small to hold a validation split (``without_validation_if_empty``)."""
    if mode == "window":
        history, horizon = options.pop("history", data.history), options.pop("horizon", data.horizon)
        train_frames_out = options.pop("train_horizon", horizon)
        stride = options.pop("stride", data.stride)
        options.setdefault("first_frame", data.first_frame)
        train = window_data(data_file(data), history, train_frames_out, stride, data.train_split, **options)
        val = without_validation_if_empty(
            data, lambda: window_data(validation_file(data), history, horizon, stride, data.val_split, **options)
        )
        if val is not None:
            check_same_fields(train, val, "data.val_path")
        if data.extra_train_paths:
            extra = [
                window_data(_existing(path), history, train_frames_out, stride, data.train_split, **options)
                for path in data.extra_train_paths
            ]
            train = MultiResolutionDataset([train, *extra])
        return train, val
    if data.extra_train_paths:
        raise InputError(f"data.extra_train_paths (multi-resolution training) needs the window data mode, not {mode}")
    if mode != "initial-condition" and not open_source(data_file(data), None).generated:
        raise InputError(
            f"{data.path} is read as The Well's data, which trains the window data mode (task.kind=next-step); "
            f"this task needs the {mode} mode of files that pdeop generated"
        )
    if mode == "trajectory":
        train = pde_data.FullTrajectoryDataset(data_file(data), data.train_split, **options)
        val = without_validation_if_empty(
            data, lambda: pde_data.FullTrajectoryDataset(validation_file(data), data.val_split, **options)
        )
        if val is not None:
            check_same_fields(train, val, "data.val_path")
        return train, val
    if mode == "initial-condition":
        if not data.recipe:
            raise InputError(
                "the initial-condition data mode needs data.recipe (a preset name, see pdeop generate --help)"
            )
        samples = data.samples or INITIAL_STATES_PER_EPOCH
        train = pde_data.InitialConditionDataset(data.recipe, samples, data.seed, "train", **options)
        val_samples = max(1, samples // 8)
        return train, pde_data.InitialConditionDataset(data.recipe, val_samples, data.seed, "valid", **options)
    raise InputError(f"unknown data mode {mode!r}; known: {', '.join(DATA_MODES)}")


def without_validation_if_empty(data: DataConfig, build: Callable[[], Dataset]) -> Dataset | None:
    """``build()``, the validation set; None, said in one line on stderr, when the training file is too small to
    hold a validation split (1 or 2 trajectories, ``pde_data.loading.split_samples``) and ``data.val_path`` names
    no other file: the run then trains without validation and keeps its last epoch as its best."""
    try:
        return build()
    except EmptySplitError as error:
        if data.val_path:
            raise
        print(
            f"note: {error}; training without validation (set data.val_path to validate on another file)",
            file=sys.stderr,
        )
        return None


def _existing(path: str) -> Path:
    if not Path(path).is_file():
        raise MissingFileError(f"no dataset file at {path} (data.extra_train_paths)")
    return Path(path)


class TrajectoryWindows(Dataset):
    """Every ``window``-frame stretch of a ``trajectory``-mode dataset's trajectories, one per item, so that an
    epoch passes over every window once (as the ``window`` mode does) rather than over one window per trajectory.

    Item ``i`` is the trajectory item of ``dataset`` (``pde_data.FullTrajectoryDataset``) with ``fields`` and
    ``time`` cut to frames ``start .. start + window - 1``, where ``start = i % starts`` and ``starts =
    frames - window + 1``; ``start`` is added to the item.
    """

    def __init__(self, dataset: Dataset, window: int):
        frames = len(dataset.frame_indices)
        if not 1 <= window <= frames:
            raise InputError(f"a window of {window} frames does not fit trajectories of {frames}")
        self.dataset, self.window, self.starts = dataset, window, frames - window + 1

    def __len__(self) -> int:
        return len(self.dataset) * self.starts

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        trajectory, start = divmod(index, self.starts)
        item = dict(self.dataset[trajectory])
        cut = slice(start, start + self.window)
        return item | {"fields": item["fields"][cut], "time": item["time"][cut], "start": start}

    def __getattr__(self, name: str):  # everything else describes the trajectories
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def check_same_fields(primary: Dataset, other: Dataset, setting: str) -> None:
    """InputError, before any training, unless ``other`` (named by the config key ``setting``) holds the fields
    of ``primary`` in as many dimensions (grid sizes may differ)."""
    if other.channel_names != primary.channel_names or len(other.grid_shape) != len(primary.grid_shape):
        raise InputError(
            f"{other.path} ({setting}) does not hold the same fields as {primary.path}: "
            f"{', '.join(other.channel_names)} on a {len(other.grid_shape)}D grid {tuple(other.grid_shape)}, "
            f"not {', '.join(primary.channel_names)} on a {len(primary.grid_shape)}D grid {tuple(primary.grid_shape)}"
        )


class MultiResolutionDataset(Dataset):
    """Several window datasets of one problem (the first is the primary: its grid, statistics and
    recipe describe the run); indices run through them in order. ``group_sizes``: windows per file."""

    def __init__(self, datasets: list[Dataset]):
        primary = datasets[0]
        for other in datasets[1:]:
            check_same_fields(primary, other, "data.extra_train_paths")
        self.datasets = datasets
        self.group_sizes = [len(d) for d in datasets]
        self.offsets = [sum(self.group_sizes[:i]) for i in range(len(datasets))]

    def __len__(self) -> int:
        return sum(self.group_sizes)

    def __getitem__(self, index: int):
        group = max(i for i, offset in enumerate(self.offsets) if offset <= index)
        return self.datasets[group][index - self.offsets[group]]

    def __getattr__(self, name: str):  # everything else describes the primary file
        if name == "datasets":
            raise AttributeError(name)
        return getattr(self.datasets[0], name)


class GroupedBatchSampler(Sampler):
    """Batches of ``batch_size`` indices from one group each, shuffled per epoch by ``(seed, epoch)``;
    rank ``rank`` of ``world_size`` takes every ``world_size``-th batch (equal counts: the rest is dropped)."""

    def __init__(self, group_sizes: list[int], batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 0):
        self.group_sizes, self.batch_size = group_sizes, batch_size
        self.world_size, self.rank, self.seed, self.epoch = world_size, rank, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        batches, offset = [], 0
        for size in self.group_sizes:
            order = (offset + torch.randperm(size, generator=generator)).tolist()
            batches += [order[i : i + self.batch_size] for i in range(0, size, self.batch_size)]
            offset += size
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        usable = len(shuffled) // self.world_size * self.world_size
        return shuffled[self.rank : usable : self.world_size]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        batches = sum(math.ceil(size / self.batch_size) for size in self.group_sizes)
        return batches // self.world_size
