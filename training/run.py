"""A training run end to end: the task and its data from the config, the model, the trainer, the evaluation.

``train(config, run_dir)`` is what ``pdeop train`` and ``pdeop quickstart`` call.
The task (``config.task.kind``, see ``training.tasks``) decides the data mode, the
model's channels, the loss, what the checkpoints hold and how the run is evaluated.
"""

from __future__ import annotations

from pathlib import Path

import torch

import operators
from solvers.errors import InputError, MissingFileError
from training.config import RunConfig, load_config, save_config
from training.distributed import shutdown
from training.tasks import Task, build_task
from training.trainer import Trainer


def build_model(config: RunConfig, task: Task) -> torch.nn.Module:
    """The configured architecture, with the data-derived hyperparameters it accepts filled in by the task."""
    name = config.model.name
    accepted = operators.hyperparameter_names(name)
    derived = {k: v for k, v in task.model_hyperparameters().items() if k in accepted}
    torch.manual_seed(config.train.seed)  # the same initial weights for the same seed
    return operators.build(name, **(derived | dict(config.model.hyperparameters)))


def train(
    config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True, evaluate: bool = True
) -> tuple[Trainer, dict | None]:
    """Train, keep the best checkpoint on validation data, and (rank 0) evaluate it as the task says.

    Returns the trainer and the evaluation report (None when not evaluated or the task has none).
    """
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    if not resume and last.exists():
        raise InputError(
            f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out"
        )
    task = build_task(config)
    model = build_model(config, task)
    trainer = Trainer(model, task, config, run_dir, progress=progress)
    if trainer.context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
    trainer.fit(task.train_set, task.val_set, resume=resume)
    report = task.evaluate(run_dir, progress) if evaluate and trainer.context.is_main else None
    shutdown(trainer.context)
    return trainer, report


def resume_config(run_dir: str | Path, overrides: list[str]) -> RunConfig:
    """The configuration a run was started with, plus overrides (e.g. more epochs)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise MissingFileError(f"cannot resume: {path} does not exist")
    return load_config(path, overrides)


__all__ = ["build_model", "resume_config", "train"]
