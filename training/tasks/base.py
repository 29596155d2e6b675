"""The task interface and registry: how a training objective plugs into the one ``Trainer``.

A task (selected by ``task.kind`` in the run config) owns everything that is
specific to an objective, so that a new objective never edits the trainer:

- its configuration fields: the dataclass ``Options`` (with ``kind`` first), which
  the config loader validates like every section (unknown keys listed);
- the data mode it needs (``window``, ``trajectory`` or ``initial-condition``) and
  its training and validation datasets (``datasets``);
- the model's data-derived hyperparameters (``model_hyperparameters``);
- the loss of a batch and the validation metrics (``metric_names``, of which
  ``loss`` selects the best checkpoint), and how many samples a batch holds;
- its own modules and buffers (a frozen encoder, a solver): moved by ``to``;
- what a checkpoint holds: a predictor ``kind`` plus its payload (``checkpoint``);
- how a finished run is evaluated (``evaluate``).

Register a task with ``@register_task``; ``task_class(kind)`` finds it. Its options (``training.tasks.options``)
are registered with it, so that a run config is read and checked without importing the task.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
from torch.utils.data import Dataset

from operators.predictors.checkpoint import tensor_state_dict
from solvers.errors import InputError
from training.data import DATA_MODES, datasets_for_mode
from training.tasks.options import TaskOptions, options_class, register_options, task_kinds

if TYPE_CHECKING:
    from training.config import RunConfig

_TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` selectable as ``task.kind = cls.kind`` (its ``Options`` too)."""
    if not dataclasses.is_dataclass(cls.Options) or "kind" not in {f.name for f in dataclasses.fields(cls.Options)}:
        raise TypeError(f"{cls.__name__}.Options must be a dataclass with a 'kind' field")
    if cls.Options.kind != cls.kind:
        raise TypeError(f"{cls.__name__}.Options.kind defaults to {cls.Options.kind!r}, not the task's {cls.kind!r}")
    if cls.data_mode not in DATA_MODES:
        raise TypeError(f"{cls.__name__}.data_mode must be one of {', '.join(DATA_MODES)}, got {cls.data_mode!r}")
    if cls.kind in _TASKS and _TASKS[cls.kind] is not cls:
        raise ValueError(f"task kind {cls.kind!r} is registered twice")
    register_options(cls.Options)
    _TASKS[cls.kind] = cls
    return cls


def task_class(kind: str) -> type[Task]:
    """The task of ``task.kind = kind`` (a built-in one is imported on first use)."""
    if kind not in _TASKS:
        module = options_class(kind).task_module  # InputError for an unknown kind
        if module:
            importlib.import_module(module)
    if kind not in _TASKS:
        raise InputError(f"task.kind = {kind!r} is not a registered task; known: {', '.join(task_kinds())}")
    return _TASKS[kind]


def build_task(config: RunConfig) -> Task:
    """The task the config asks for, with its datasets built."""
    return task_class(config.task.kind)(config)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP or ``torch.compile`` wrapper (for attribute access; call the wrapper)."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


class Task:
    """Base class of training objectives (see the module docstring).

    Subclasses set ``kind``, ``data_mode``, ``Options`` and ``metric_names`` and
    implement ``loss`` and ``validate``; the other methods have defaults.

    ``loss`` receives the model to call for forward passes, which may be a DDP or
    compiled wrapper (gradients synchronise through it); use ``unwrap(model)`` for
    attributes. ``validate`` and ``checkpoint`` receive the plain (or EMA) module.
    """

    kind: ClassVar[str]
    data_mode: ClassVar[str] = "window"
    metric_names: ClassVar[tuple[str, ...]] = ("loss",)
    #: the kind of predictor its checkpoints hold (``operators.load`` knows ``surrogate``)
    predictor_kind: ClassVar[str] = "model"

    #: the configuration fields (``training.tasks.options``: a dataclass with ``kind`` first, and
    #: ``models``, the architectures this task alone trains)
    Options: ClassVar[type[TaskOptions]] = TaskOptions

    def __init__(self, config: RunConfig):
        self.config, self.options = config, config.task
        self.train_set, self.val_set = self.datasets()

    # --- data ----------------------------------------------------------------------------
    def datasets(self) -> tuple[Dataset, Dataset]:
        """Training and validation datasets of the task's data mode (``training.data``)."""
        return datasets_for_mode(self.data_mode, self.config.data)

    def model_hyperparameters(self) -> dict:
        """Data-derived hyperparameters offered to the model builder (those it accepts are used)."""
        data = self.train_set
        return {
            "in_channels": data.channels,
            "out_channels": data.channels,
            "ndim": len(data.grid_shape),
            "grid_size": data.grid_shape[0],
        }

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch (0-based, also after a resume): for schedules such as a curriculum."""

    def prepare_model(self, model: torch.nn.Module) -> None:
        """Give a freshly built model what it needs from the data (nothing by default)."""

    def batch_size(self, batch: dict) -> int:
        """Samples in a batch (weights the epoch means)."""
        for value in batch.values():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                return len(value)
        raise InputError("cannot tell the batch size: the batch holds no tensor")

    def data_metadata(self) -> dict:
        """What a predictor needs to know about its training data (plain data, saved in checkpoints)."""
        data = self.train_set
        description = data.description
        metadata = {
            "equation": description["equation"],
            "coefficients": description["coefficients"],
            "length": description["length"],
            "grid": list(data.grid_shape),
            "field_names": data.channel_names,
            "dataset": description["name"],
            "data_file": str(self.config.data.path),
            "task": self.kind,
        }
        if hasattr(data, "field_channels"):  # The Well's data: which channels make up each field
            metadata["fields"] = data.field_channels()
        return metadata

    def data_identity(self) -> dict:
        """What the training data is, recorded in ``last.pt`` so that ``--resume`` on other data is refused."""
        data = self.train_set
        if hasattr(data, "identity"):
            return data.identity()
        return {"recipe": data.recipe.name, "seed": data.seed, "samples": data.n_samples}

    def to(self, device: torch.device) -> Task:
        """Move the task's own modules and buffers (none by default) to ``device``."""
        return self

    # --- objective -----------------------------------------------------------------------
    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of one batch and its metrics (detached 0-dim tensors, at least ``loss``: the
        trainer reads them back from the device only when it reports, so a step never waits for one)."""
        raise NotImplementedError

    def validate(self, model: torch.nn.Module, batch: dict) -> dict[str, float]:
        """The validation metrics of one batch: exactly ``metric_names``."""
        raise NotImplementedError

    # --- results -------------------------------------------------------------------------
    def checkpoint(self, model: torch.nn.Module) -> dict:
        """What a checkpoint holds for ``model``: ``kind`` plus the predictor's payload (tensors, plain data)."""
        return {
            "kind": self.predictor_kind,
            "task": self.kind,
            "model": model.pdeop_spec,
            "state_dict": tensor_state_dict(model),
        }

    def report_text(self, report: dict) -> str:
        """The evaluation report as the text ``pdeop train`` prints."""
        return f"evaluated on {len(report.get('samples', []))} trajectories"

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict | None:
        """Evaluate the finished run (its best checkpoint); None when the task has no evaluation."""
        return None
