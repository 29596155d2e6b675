"""The ``operator`` task: the solution operator ``u(0) -> u(T)`` in one model call (FNO's Burgers setting).

Data mode ``trajectory`` with two frames per item: the first stored frame and
``target_frame`` (default the last). The checkpoint is a ``Surrogate`` with
history 1 whose time step is the whole span, so ``predict(u0, 1)`` returns ``u(T)``.
"""

from __future__ import annotations

import numpy as np
import torch

from solvers.errors import InputError
from training.data import datasets_for_mode
from training.tasks.base import register_task
from training.tasks.options import OperatorOptions
from training.tasks.surrogate import SurrogateTask


@register_task
class OperatorTask(SurrogateTask):
    """Batches: ``fields`` ``(batch, 2, channels, *grid)`` (``u(0)`` and ``u(T)``) and ``time`` ``(batch, 2)``."""

    kind = "operator"
    data_mode = "trajectory"

    Options = OperatorOptions

    def __init__(self, config):
        self.residual = config.task.residual
        super().__init__(config)
        if len(self.train_set.frame_indices) < 2:
            raise InputError("task.target_frame points at the first frame; the operator needs a later frame")

    def datasets(self):
        frames = [self.config.data.first_frame, self.options.target_frame]
        return datasets_for_mode("trajectory", self.config.data, frames=frames)

    def state_dt(self) -> float | None:
        data = self.train_set
        spans = np.asarray([data.frame_times(i)[data.frame_indices[-1]] - data.frame_times(i)[0] for i in data.samples])
        return float(spans[0]) if np.allclose(spans, spans[0]) else None

    def stride(self) -> int:
        return self.train_set.frame_indices[-1] - self.train_set.frame_indices[0]

    def _predict(self, model: torch.nn.Module, u0: torch.Tensor) -> torch.Tensor:
        out = model(u0[:, 0]).float()[:, None]
        return out + u0.float() if self.residual else out

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        fields = batch["fields"]
        loss = self.field_loss(self._predict(model, self.normalize(fields[:, :1])), fields[:, 1:])
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, batch: dict) -> dict[str, float]:
        fields = batch["fields"]
        return self.one_step_metrics(self._predict(model, self.normalize(fields[:, :1])), fields[:, 1:])
