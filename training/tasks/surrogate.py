"""What the tasks that train a ``Surrogate`` share: normalisation, losses, the checkpoint, the evaluation.

A surrogate task maps normalised states ``(batch, history, channels, *grid)`` to
the next states; the model sees per-channel standardised values, while losses
and metrics are computed in physical units, per channel and then averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from training.evaluation.metrics import hs_loss, relative_h1, relative_l2
from training.tasks.base import Task
from training.tasks.options import SurrogateOptions


class SurrogateTask(Task):
    """Base of tasks whose checkpoints are ``Surrogate`` s (``operators.load`` returns one).

    Subclasses say how many states go in and out (``history``, ``horizon``), the
    time between states (``state_dt``) and the stride in stored frames between them.
    """

    predictor_kind: ClassVar[str] = "surrogate"
    metric_names: ClassVar[tuple[str, ...]] = ("loss", "relative_l2")
    history: int = 1
    horizon: int = 1
    residual: bool = False

    Options = SurrogateOptions

    def __init__(self, config):
        super().__init__(config)
        statistics = self.train_set.statistics
        self.mean = statistics["mean"].float()
        self.std = statistics["std"].float()
        self.length = float(self.train_set.description["length"])
        #: fields that do not change in time (The Well's data), given to the model after the states
        self.constant_names = list(getattr(self.train_set, "constant_names", []))
        constants = self.train_set.constant_statistics if self.constant_names else {}
        self.constant_mean, self.constant_std = constants.get("mean"), constants.get("std")

    def to(self, device: torch.device) -> SurrogateTask:
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        if self.constant_names:
            self.constant_mean, self.constant_std = self.constant_mean.to(device), self.constant_std.to(device)
        return self

    def normalized_constant(self, batch: dict) -> torch.Tensor | None:
        """The batch's constant inputs ``(batch, C_const, *grid)`` normalised, or None without constant fields."""
        if not self.constant_names:
            return None
        constant = batch["constant"].float()
        shape = (1, -1, *(1,) * (constant.dim() - 2))
        mean, std = self.constant_mean.to(constant.device), self.constant_std.to(constant.device)
        return (constant - mean.reshape(shape)) / std.reshape(shape)

    # --- units -------------------------------------------------------------------------
    def _broadcast(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std shaped against states ``(batch, time, channels, *grid)``."""
        shape = (1, 1, -1, *(1,) * (x.dim() - 3))
        return self.mean.to(x.device).reshape(shape), self.std.to(x.device).reshape(shape)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._broadcast(x)
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._broadcast(x)
        return x * std + mean

    def field_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The configured loss of normalised predictions against physical targets ``(batch, time, channels, *grid)``."""
        if self.options.loss == "mse":
            return torch.mean((prediction - self.normalize(target)) ** 2)
        physical = self.denormalize(prediction)
        if self.options.loss == "relative-h1":
            return relative_h1(physical, target, target.dim() - 3, self.length)
        if self.options.loss == "hs":
            return hs_loss(physical, target, target.dim() - 3, self.options.hs_a)
        return relative_l2(physical, target, channel_axis=2)

    def one_step_metrics(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        return {
            "loss": float(self.field_loss(prediction, target)),
            "relative_l2": float(relative_l2(self.denormalize(prediction), target, channel_axis=2)),
        }

    # --- results -----------------------------------------------------------------------
    def state_dt(self) -> float | None:
        """Time between consecutive predicted states (None when it varies per sample)."""
        raise NotImplementedError

    def stride(self) -> int:
        """Stored frames between consecutive predicted states."""
        raise NotImplementedError

    def metadata(self) -> dict:
        return self.data_metadata() | {
            "dt": self.state_dt(),
            "stride": self.stride(),
            "first_frame": self.config.data.first_frame,
        }

    def checkpoint(self, model: torch.nn.Module) -> dict:
        return super().checkpoint(model) | {
            "normalization": {"mean": self.mean.detach().cpu(), "std": self.std.detach().cpu()},
            "history": self.history,
            "horizon": self.horizon,
            "residual": self.residual,
            "metadata": self.metadata(),
            "constants": {
                "names": self.constant_names,
                "mean": self.constant_mean.detach().cpu(),
                "std": self.constant_std.detach().cpu(),
            }
            if self.constant_names
            else None,
        }

    def report_text(self, report: dict) -> str:
        from training.evaluation.rollouts import summary_table

        return f"validation rollouts ({len(report['samples'])} trajectories):\n" + summary_table(report)

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict:
        """Rollouts of the best checkpoint over the validation data, scored against persistence."""
        import operators
        from training.data import validation_file
        from training.evaluation.rollouts import evaluate_surrogate

        data = self.config.data
        surrogate = operators.load(run_dir)
        return evaluate_surrogate(
            surrogate,
            validation_file(data),
            Path(run_dir) / "evaluation",
            data.val_split,
            self.config.train.eval_trajectories,
            steps=self.config.train.eval_steps,
        )
