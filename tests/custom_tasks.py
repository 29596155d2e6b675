"""Two training tasks defined outside pdeop, to show that a new objective needs no change to the trainer.

- ``test-autoencoder`` (data mode ``trajectory``): reconstructs whole trajectories;
  three metrics of its own; its checkpoint holds a plain model, not a predictor.
- ``test-solver-target`` (data mode ``initial-condition``): learns one frame interval
  of the recipe's solver from initial states drawn on the fly, the targets computed
  by a solver the task owns (moved to the device by ``Task.to``); no file needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.evaluation.metrics import relative_l2
from training.tasks import SurrogateTask, Task, register_task


@register_task
class TrajectoryAutoencoderTask(Task):
    kind = "test-autoencoder"
    data_mode = "trajectory"
    metric_names = ("loss", "reconstruction_l2", "first_frame_l2")

    @dataclass
    class Options(Task.Options):
        kind: str = "test-autoencoder"
        scale: float = 1.0  # a task-specific field, validated like any config section

    def model_hyperparameters(self) -> dict:
        frames = len(self.train_set.frame_indices)
        return super().model_hyperparameters() | {
            "in_channels": frames * self.train_set.channels,
            "out_channels": frames * self.train_set.channels,
        }

    def _reconstruct(self, model, fields: torch.Tensor) -> torch.Tensor:
        scaled = fields * self.options.scale
        return model(scaled.flatten(1, 2)).reshape(fields.shape) / self.options.scale

    def loss(self, model, batch):
        assert isinstance(batch["caption"][0], str) and batch["time"].dim() == 2  # the trajectory mode's keys
        loss = relative_l2(self._reconstruct(model, batch["fields"]), batch["fields"], channel_axis=2)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def validate(self, model, batch):
        fields = batch["fields"]
        out = self._reconstruct(model, fields)
        error = float(relative_l2(out, fields, channel_axis=2))
        return {
            "loss": error,
            "reconstruction_l2": error,
            "first_frame_l2": float(relative_l2(out[:, 0], fields[:, 0])),
        }


@register_task
class SolverTargetTask(SurrogateTask):
    kind = "test-solver-target"
    data_mode = "initial-condition"

    @dataclass
    class Options(SurrogateTask.Options):
        kind: str = "test-solver-target"

    def __init__(self, config):
        super().__init__(config)
        self.recipe = self.train_set.recipe
        self.device = torch.device("cpu")
        self.solver = self._solver()

    def _solver(self):
        recipe = self.recipe.with_resolution(self.recipe.resolution)  # solve on the stored grid
        recipe = type(recipe)(**{**recipe.to_dict(), "solver_resolution": recipe.resolution})
        ones = torch.ones(1, dtype=torch.float64)
        return recipe.build_solver(recipe.length * ones, ones, torch.float64, str(self.device))

    def to(self, device):
        super().to(device)
        self.device = torch.device(device)
        self.solver = self._solver()
        return self

    def state_dt(self) -> float:
        return self.recipe.t_end / (self.recipe.total_frames - 1)

    def stride(self) -> int:
        return 1

    def _target(self, u0: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            state = self.solver.step(u0[:, 0].to(self.solver.dtype), self.recipe.substeps())
        return state.float()[:, None, None]  # (batch, time=1, channels=1, *grid)

    def loss(self, model, batch):
        u0 = batch["u0"][:, None]
        prediction = model(self.normalize(u0)[:, 0]).float()[:, None]
        loss = self.field_loss(prediction, self._target(batch["u0"]))
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def validate(self, model, batch):
        u0 = batch["u0"][:, None]
        prediction = model(self.normalize(u0)[:, 0]).float()[:, None]
        return self.one_step_metrics(prediction, self._target(batch["u0"]))

    def evaluate(self, run_dir, progress=True):
        return None
