"""The ``next-step`` task: history frames in, the next frames out (autoregressive surrogates).

One-step training with a history window, multi-step rollout training
(``rollout_steps``, chained on the model's own outputs) and pushforward
(Brandstetter et al. 2022: the first calls without gradient). Data mode ``window``.
"""

from __future__ import annotations

import torch

from operators.predictors.surrogate import model_step
from training.data import datasets_for_mode
from training.tasks.base import register_task
from training.tasks.options import NextStepOptions
from training.tasks.surrogate import SurrogateTask


@register_task
class NextStepTask(SurrogateTask):
    """Batches: ``input`` ``(batch, history, channels, *grid)`` and ``target``
    ``(batch, horizon * rollout_steps, channels, *grid)`` in physical units."""

    kind = "next-step"
    data_mode = "window"

    Options = NextStepOptions

    def __init__(self, config):
        data = config.data
        self.history, self.horizon = data.history, data.horizon
        self.residual = config.task.residual
        super().__init__(config)

    def datasets(self):
        frames_out = self.horizon * self.options.rollout_steps
        return datasets_for_mode("window", self.config.data, train_horizon=frames_out)

    def model_hyperparameters(self) -> dict:
        channels = self.train_set.channels
        return super().model_hyperparameters() | {
            "in_channels": self.history * channels + len(self.constant_names),
            "out_channels": self.horizon * channels,
        }

    def state_dt(self) -> float | None:
        return self.train_set.frame_dt

    def stride(self) -> int:
        return self.train_set.stride

    def _step(self, model: torch.nn.Module, window: torch.Tensor, constant: torch.Tensor | None = None) -> torch.Tensor:
        return model_step(model, window, self.history, self.horizon, self.residual, constant)

    def rollout(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        calls: int,
        grad_from: int = 0,
        constant: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised predictions of ``calls`` chained model calls; calls before ``grad_from`` run without gradient
        (``constant``: the normalised constant inputs, for data with fields that do not change in time)."""
        window, outputs = inputs, []
        for call in range(calls):
            with torch.set_grad_enabled(torch.is_grad_enabled() and call >= grad_from):
                prediction = self._step(model, window, constant)
            outputs.append(prediction)
            window = torch.cat([window, prediction], dim=1)[:, -self.history :]
        return torch.cat(outputs, dim=1)

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        steps, pushforward = self.options.rollout_steps, self.options.pushforward
        target = batch["target"][:, : self.horizon * steps]
        grad_from = steps - 1 if pushforward else 0
        prediction = self.rollout(
            model, self.normalize(batch["input"]), steps, grad_from, self.normalized_constant(batch)
        )
        if pushforward:
            prediction, target = prediction[:, -self.horizon :], target[:, -self.horizon :]
        loss = self.field_loss(prediction, target)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, batch: dict) -> dict[str, float]:
        """The loss and the one-step relative L2 (physical units, per channel, averaged)."""
        prediction = self._step(model, self.normalize(batch["input"]), self.normalized_constant(batch))
        return self.one_step_metrics(prediction, batch["target"][:, : self.horizon])
