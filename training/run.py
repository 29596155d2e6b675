"""A training run end to end: the task and its data from the config, the model, the trainer, the evaluation.

``train(config, run_dir)`` is what ``pdeop train`` and ``pdeop quickstart`` call.
The task (``config.task.kind``, see ``training.tasks``) decides the data mode, the
model's channels, the loss, what the checkpoints hold and how the run is evaluated.
"""

from __future__ import annotations

import dataclasses
import shutil
from contextlib import nullcontext
from pathlib import Path

import torch

import operators
from operators.predictors.checkpoint import load_checkpoint
from pde_data.locks import RunLock
from solvers.errors import InputError, MissingFileError
from training.config import RunConfig, load_config, save_config
from training.distributed import context_from_environment, shutdown
from training.tasks import Task, build_task
from training.trainer import Trainer


def build_model(config: RunConfig, task: Task) -> torch.nn.Module:
    """The configured architecture, with the data-derived hyperparameters it accepts filled in by the task."""
    name = config.model.name
    accepted = operators.hyperparameter_names(name)
    derived = {k: v for k, v in task.model_hyperparameters().items() if k in accepted}
    torch.manual_seed(config.train.seed)  # the same initial weights for the same seed
    model = operators.build(name, **(derived | dict(config.model.hyperparameters)))
    task.prepare_model(model)
    return model


def train(
    config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True, evaluate: bool = True
) -> tuple[Trainer, dict | None]:
    """Train, keep the best checkpoint on validation data, and (rank 0) evaluate it as the task says.

    Everything is checked before anything is written: the data and model are built
    first, and a resume is refused (one line naming the difference) when the
    architecture, task, grid or data differ from the run's. ``config.yaml`` is
    (re)written only once the previous state has loaded, data paths are stored
    absolute (so ``--resume`` works from any folder), and a lock in the run folder
    tells a second process training the same run apart.

    Returns the trainer and the evaluation report (None when not evaluated or the task has none).
    """
    run_dir = Path(run_dir)
    config = with_absolute_paths(config)
    last = run_dir / "checkpoints" / "last.pt"
    if not resume and last.exists():
        raise InputError(
            f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out"
        )
    if resume and not last.is_file():
        raise MissingFileError(f"nothing to resume: {last} does not exist")
    task = build_task(config)
    model = build_model(config, task)
    if resume:
        check_resumable(last, task, model)
    main_process = context_from_environment().is_main
    created = main_process and not run_dir.exists()
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir / "train.lock", f"training {run_dir}") if main_process else nullcontext()
    try:
        with lock:
            trainer = Trainer(model, task, config, run_dir, progress=progress)
            on_start = (lambda: save_config(config, run_dir / "config.yaml")) if main_process else None
            trainer.fit(task.train_set, task.val_set, resume=resume, on_start=on_start)
            # a run without validation data has nothing to evaluate on (``training.data.without_validation_if_empty``)
            evaluating = evaluate and main_process and task.val_set is not None
            report = task.evaluate(run_dir, progress) if evaluating else None
    except BaseException:
        # a run that stopped before its first checkpoint (a precision the device lacks, a model that does not fit
        # the grid, a loss that became NaN in epoch 1, Ctrl-C) has nothing to resume: leave no folder behind
        if created and not last.exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    shutdown(trainer.context)
    return trainer, report


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """The config with ``data.path`` and ``data.val_path`` made absolute."""
    data = config.data
    absolute = {key: str(Path(value).resolve()) for key in ("path", "val_path") if (value := getattr(data, key))}
    return dataclasses.replace(config, data=dataclasses.replace(data, **absolute))


def check_resumable(last: Path, task: Task, model: torch.nn.Module) -> None:
    """Refuse (one line naming every difference) to resume ``last`` with another model, task, grid or data."""
    payload = load_checkpoint(last)
    differences = []
    then, now = payload.get("model", {}), model.pdeop_spec
    if then.get("name") != now["name"]:
        differences.append(f"model {then.get('name')!r} in the run, {now['name']!r} now")
    else:
        previous, current = then.get("hyperparameters", {}), now["hyperparameters"]
        for key in sorted(set(previous) | set(current)):
            if previous.get(key) != current.get(key):
                source = " (from the data)" if key in DERIVED else ""
                differences.append(f"{key}{source} {previous.get(key)!r} in the run, {current.get(key)!r} now")
    if payload.get("task", task.kind) != task.kind:
        differences.append(f"task.kind {payload['task']!r} in the run, {task.kind!r} now")
    grid = payload.get("metadata", {}).get("grid")
    if grid is not None and tuple(grid) != tuple(task.train_set.grid_shape):
        differences.append(f"grid {tuple(grid)} in the run, {tuple(task.train_set.grid_shape)} now")
    recorded, current_data = payload.get("training", {}).get("data"), task.data_identity()
    if recorded is not None and differences == []:
        changed = [k for k in recorded if k != "path" and recorded[k] != current_data.get(k)]
        if changed:
            described = ", ".join(
                f"{k} {recorded[k]!r} -> {current_data.get(k)!r}" for k in changed if k != "attributes_sha256"
            )
            differences.append(
                f"the data differs from the run's ({recorded.get('path')}): {described or 'its content differs'}"
            )
    if differences:
        raise InputError(
            f"cannot resume {last.parent.parent}: "
            + "; ".join(differences)
            + ". Resume with the run's own settings and data, or start a new run with another --out"
        )


#: hyperparameters the task derives from the data
DERIVED = ("in_channels", "out_channels", "ndim", "grid_size")


def resume_config(run_dir: str | Path, overrides: list[str]) -> RunConfig:
    """The configuration a run was started with, plus overrides (e.g. more epochs)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise MissingFileError(f"cannot resume: {path} does not exist")
    return load_config(path, overrides)


__all__ = ["build_model", "resume_config", "train"]
