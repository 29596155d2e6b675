"""Training objectives ("tasks"): how a batch becomes a loss and metrics.

A task owns the data-to-model convention; the trainer never looks inside a
batch. ``NextStepTask`` covers one-step training with a history window,
multi-step rollout training (optionally pushforward) and, with a stride that
spans the trajectory, operator maps ``u0 -> u(T)``. New objectives (diffusion,
physics residuals, data assimilation) are new task classes with the same two
methods; the trainer does not change.
"""

from __future__ import annotations

import torch

from operators.surrogate import model_step
from training.metrics import relative_h1, relative_l2


class NextStepTask:
    """History frames in, the next frames out, in normalised units inside the model.

    Batches are dicts from ``pde_data.TrajectoryDataset``: ``input``
    ``(batch, history, channels, *grid)`` and ``target``
    ``(batch, horizon * rollout_steps, channels, *grid)`` in physical units.

    Args:
        mean, std: per-channel normalisation ``(channels,)``.
        history, horizon: frames in and out per model call.
        rollout_steps: model calls per training example (chained on its own outputs).
        pushforward: with ``rollout_steps > 1``, run the first calls without gradient
            and train on the last (Brandstetter et al. 2022); else backpropagate
            through every call and average their losses.
        loss: ``relative-l2`` (physical units; per sample, averaged), ``relative-h1``
            (the same with the gradient's norm added, spectral on the periodic grid) or
            ``mse`` (normalised).
        residual: the model predicts the change from the last input state.
        length: the periodic domain's side, for ``relative-h1``'s wavenumbers.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        history: int,
        horizon: int = 1,
        rollout_steps: int = 1,
        pushforward: bool = False,
        loss: str = "relative-l2",
        residual: bool = False,
        length: float = 1.0,
    ):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        self.history, self.horizon = history, horizon
        self.rollout_steps, self.pushforward, self.loss_name = rollout_steps, pushforward, loss
        self.residual, self.length = residual, length

    def target_frames(self) -> int:
        return self.horizon * self.rollout_steps

    def _shape(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean.to(x.device).reshape(1, 1, -1, *(1,) * (x.dim() - 3)), self.std.to(x.device).reshape(
            1, 1, -1, *(1,) * (x.dim() - 3)
        )

    def _step(self, model: torch.nn.Module, window: torch.Tensor) -> torch.Tensor:
        return model_step(model, window, self.history, self.horizon, self.residual)

    def rollout(self, model: torch.nn.Module, inputs: torch.Tensor, calls: int, grad_from: int = 0) -> torch.Tensor:
        """Normalised predictions of ``calls`` chained model calls; calls before ``grad_from`` run without gradient."""
        window, outputs = inputs, []
        for call in range(calls):
            with torch.set_grad_enabled(torch.is_grad_enabled() and call >= grad_from):
                prediction = self._step(model, window)
            outputs.append(prediction)
            window = torch.cat([window, prediction], dim=1)[:, -self.history :]
        return torch.cat(outputs, dim=1)

    def _loss(self, prediction: torch.Tensor, target: torch.Tensor, mean, std) -> torch.Tensor:
        if self.loss_name == "mse":
            return torch.mean((prediction - (target - mean) / std) ** 2)
        if self.loss_name == "relative-h1":
            return relative_h1(prediction * std + mean, target, target.dim() - 3, self.length)
        return relative_l2(prediction * std + mean, target)

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of one batch and its metrics (floats)."""
        inputs, target = batch["input"], batch["target"][:, : self.target_frames()]
        mean, std = self._shape(inputs)
        grad_from = self.rollout_steps - 1 if self.pushforward else 0
        prediction = self.rollout(model, (inputs - mean) / std, self.rollout_steps, grad_from)
        if self.pushforward:
            prediction, target = prediction[:, -self.horizon :], target[:, -self.horizon :]
        loss = self._loss(prediction, target, mean, std)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, batch: dict) -> dict[str, float]:
        """Validation metrics of one batch: the loss and the one-step relative L2 (physical units)."""
        inputs, target = batch["input"], batch["target"][:, : self.horizon]
        mean, std = self._shape(inputs)
        prediction = self._step(model, (inputs - mean) / std)
        return {
            "loss": float(self._loss(prediction, target, mean, std)),
            "relative_l2": float(relative_l2(prediction * std + mean, target)),
        }
