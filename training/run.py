"""A training run end to end: datasets and model from the config, the trainer, evaluation of the result.

``train(config, run_dir)`` is what ``pdeop train`` and ``pdeop quickstart`` call.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import torch

import operators
import pde_data
from pde_data.presets import Recipe
from training.config import RunConfig, load_config, save_config
from training.distributed import shutdown
from training.evaluation import evaluate_surrogate
from training.tasks import NextStepTask
from training.trainer import Trainer


def _frames(path: str | Path) -> int:
    with h5py.File(path, "r") as f:
        recipe = Recipe.from_dict(json.loads(f.attrs["recipe"]))
        return int(f["t0_fields"][recipe.field_name].shape[1])


def datasets(config: RunConfig) -> tuple[pde_data.TrajectoryDataset, pde_data.TrajectoryDataset]:
    """Training and validation windows; the operator task maps the first stored frame to the last."""
    data = config.data
    if not data.path:
        raise ValueError("no training data: pass --data FILE (or set data.path)")
    stride = _frames(data.path) - 1 if config.task.kind == "operator" else data.stride
    frames_out = data.horizon * config.task.rollout_steps
    train = pde_data.TrajectoryDataset(data.path, data.history, frames_out, stride, split=data.train_split)
    val_path = data.val_path or data.path
    val_split = data.val_split if data.val_path is None else None
    validation = pde_data.TrajectoryDataset(val_path, data.history, data.horizon, stride, split=val_split)
    return train, validation


def build_model(config: RunConfig, train: pde_data.TrajectoryDataset) -> torch.nn.Module:
    """The configured architecture with channels, dimension and grid size taken from the data."""
    name = config.model.name
    accepted = operators.hyperparameter_names(name)
    derived = {
        "in_channels": config.data.history * train.channels,
        "out_channels": config.data.horizon * train.channels,
        "ndim": len(train.grid_shape),
        "grid_size": train.grid_shape[0],
    }
    hyperparameters = {k: v for k, v in derived.items() if k in accepted} | dict(config.model.hyperparameters)
    torch.manual_seed(config.train.seed)  # the same initial weights for the same seed
    return operators.build(name, **hyperparameters)


def surrogate_info(config: RunConfig, train: pde_data.TrajectoryDataset) -> dict:
    recipe = train.recipe
    dt = train.frame_dt
    return {
        "mean": train.statistics["mean"],
        "std": train.statistics["std"],
        "history": config.data.history,
        "horizon": config.data.horizon,
        "residual": config.task.residual and config.task.kind == "next-step",
        "metadata": {
            "equation": recipe.equation,
            "coefficients": dict(recipe.coefficients),
            "length": recipe.length,
            "grid": list(train.grid_shape),
            "dt": dt,
            "stride": train.stride,
            "field_names": [recipe.field_name],
            "dataset": recipe.name,
            "data_file": str(config.data.path),
            "task": config.task.kind,
        },
    }


def train(
    config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True, evaluate: bool = True
) -> tuple[Trainer, dict | None]:
    """Train, keep the best checkpoint on validation data, and (rank 0) evaluate its rollouts.

    Returns the trainer and the evaluation report (None when not evaluated).
    """
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    if not resume and last.exists():
        raise ValueError(
            f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out"
        )
    train_set, val_set = datasets(config)
    model = build_model(config, train_set)
    stats = train_set.statistics
    task = NextStepTask(
        stats["mean"],
        stats["std"],
        config.data.history,
        config.data.horizon,
        config.task.rollout_steps,
        config.task.pushforward,
        config.task.loss,
        residual=config.task.residual and config.task.kind == "next-step",
        length=train_set.recipe.length,
    )
    trainer = Trainer(model, task, config, run_dir, surrogate_info(config, train_set), progress=progress)
    if trainer.context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
    trainer.fit(train_set, val_set, resume=resume)
    report = None
    if evaluate and trainer.context.is_main:
        surrogate = operators.Surrogate.load(run_dir)
        val_path = config.data.val_path or config.data.path
        split = config.data.val_split if config.data.val_path is None else None
        report = evaluate_surrogate(surrogate, val_path, run_dir / "evaluation", split, config.train.eval_trajectories)
    shutdown(trainer.context)
    return trainer, report


def resume_config(run_dir: str | Path, overrides: list[str]) -> RunConfig:
    """The configuration a run was started with, plus overrides (e.g. more epochs)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist")
    return load_config(path, overrides)


__all__ = ["build_model", "datasets", "resume_config", "train"]
